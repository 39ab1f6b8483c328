//! How the read side treats the names of a release: which one is the main title shown
//! in lists, and the defensive decoding of HTML entities. Producers must decode
//! entities before publishing (`Title::text` says so), but one dirty upstream row must
//! not show `Gintama&#039;` to users or break matching, so the read side decodes again;
//! decoding text without entities is a no-op, so a decoded title never changes.

use schemas::releases::{Title, TitleKind, TitleLanguage};

/// Languages in the order the main title is picked from, for a Russian-speaking
/// audience that mostly knows titles by their Russian or romaji names.
const MAIN_TITLE_LANGUAGES: [TitleLanguage; 4] = [
    TitleLanguage::Ru,
    TitleLanguage::Romaji,
    TitleLanguage::En,
    TitleLanguage::Ja,
];

/// The title shown for the release: the main (else official) title of the first
/// language in [`MAIN_TITLE_LANGUAGES`] that has one, else the first title.
pub fn main_title(titles: &[Title]) -> String {
    for kind in [TitleKind::Main, TitleKind::Official] {
        for language in &MAIN_TITLE_LANGUAGES {
            let found = titles
                .iter()
                .find(|title| title.kind == kind && &title.language == language);
            if let Some(title) = found {
                return decode_entities(&title.text);
            }
        }
    }
    titles
        .first()
        .map(|title| decode_entities(&title.text))
        .unwrap_or_default()
}

/// Decodes the HTML entities found in upstream titles (`&amp;`, `&#039;`, `&#x27;`,
/// `&quot;`, ...). Unknown or malformed entities are kept as written.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        decoded.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let entity_end = candidate.find(';').filter(|end| *end <= 10);
        let replacement = entity_end.and_then(|end| entity_char(&candidate[1..end]));
        match (entity_end, replacement) {
            (Some(end), Some(character)) => {
                decoded.push(character);
                rest = &candidate[end + 1..];
            }
            _ => {
                decoded.push('&');
                rest = &candidate[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

fn entity_char(name: &str) -> Option<char> {
    if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
        return u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
    }
    if let Some(decimal) = name.strip_prefix('#') {
        return decimal.parse().ok().and_then(char::from_u32);
    }
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_decoded_once() {
        assert_eq!(decode_entities("Gintama&#039;"), "Gintama'");
        assert_eq!(decode_entities("Tiger &amp; Bunny"), "Tiger & Bunny");
        assert_eq!(decode_entities("&amp;amp;"), "&amp;");
        assert_eq!(decode_entities("Fate/Zero & more"), "Fate/Zero & more");
        assert_eq!(decode_entities("a &#x27;b&#x27;"), "a 'b'");
        assert_eq!(decode_entities("&bogus; &"), "&bogus; &");
    }

    #[test]
    fn main_title_prefers_russian_then_romaji() {
        let title = |text: &str, language, kind| Title {
            text: text.to_owned(),
            language,
            kind,
        };
        let titles = vec![
            title("FMP", TitleLanguage::En, TitleKind::Short),
            title("Full Metal Panic!", TitleLanguage::Romaji, TitleKind::Main),
        ];
        assert_eq!(main_title(&titles), "Full Metal Panic!");
        let mut with_russian = titles.clone();
        with_russian.push(title(
            "Стальная тревога",
            TitleLanguage::Ru,
            TitleKind::Main,
        ));
        assert_eq!(main_title(&with_russian), "Стальная тревога");
    }
}
