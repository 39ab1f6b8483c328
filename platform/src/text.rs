//! Text repairs shared by the indexer and the query side, which must treat names and
//! queries alike.

use std::borrow::Cow;

/// Latin letters drawn like Cyrillic ones, with the Cyrillic letter each stands for.
const LOOKALIKES: [(char, char); 19] = [
    ('a', 'а'),
    ('c', 'с'),
    ('e', 'е'),
    ('o', 'о'),
    ('p', 'р'),
    ('x', 'х'),
    ('y', 'у'),
    ('A', 'А'),
    ('B', 'В'),
    ('C', 'С'),
    ('E', 'Е'),
    ('H', 'Н'),
    ('K', 'К'),
    ('M', 'М'),
    ('O', 'О'),
    ('P', 'Р'),
    ('T', 'Т'),
    ('X', 'Х'),
    ('Y', 'У'),
];

fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{052F}')
}

fn cyrillic_twin(c: char) -> Option<char> {
    LOOKALIKES
        .iter()
        .find(|(latin, _)| *latin == c)
        .map(|(_, cyrillic)| *cyrillic)
}

/// Replaces Latin letters that look like Cyrillic ones by their Cyrillic twins in
/// words written mostly in Cyrillic, e.g. the Latin `c` of `Тетрадь cмерти` as found
/// in real catalogue data (one key pressed in the wrong keyboard layout). Such a word
/// otherwise matches neither its correct spelling nor any Latin one. A word is left
/// as it is when it has as many Latin letters as Cyrillic ones, or a Latin letter
/// with no Cyrillic twin.
pub fn mend_lookalikes(text: &str) -> Cow<'_, str> {
    let needs_mending = |word: &str| {
        let (mut cyrillic, mut latin) = (0, 0);
        for c in word.chars() {
            if is_cyrillic(c) {
                cyrillic += 1;
            } else if c.is_ascii_alphabetic() {
                if cyrillic_twin(c).is_none() {
                    return false;
                }
                latin += 1;
            }
        }
        latin > 0 && cyrillic > latin
    };
    let words = || text.split(|c: char| !c.is_alphanumeric());
    if !words().any(needs_mending) {
        return Cow::Borrowed(text);
    }
    let mut mended = String::with_capacity(text.len() + 8);
    let mut rest = text;
    for word in words() {
        // `split` yields the words in order, each a slice of `text`.
        let at = word.as_ptr() as usize - rest.as_ptr() as usize;
        mended.push_str(&rest[..at]);
        if needs_mending(word) {
            mended.extend(word.chars().map(|c| cyrillic_twin(c).unwrap_or(c)));
        } else {
            mended.push_str(word);
        }
        rest = &rest[at + word.len()..];
    }
    mended.push_str(rest);
    Cow::Owned(mended)
}

#[cfg(test)]
mod tests {
    use super::mend_lookalikes;

    #[test]
    fn latin_lookalikes_in_cyrillic_words_become_cyrillic() {
        let cases = [
            ("Тетрадь cмерти", "Тетрадь смерти"),
            ("Эксель Cага", "Эксель Сага"),
            ("девyшка-кошка OVA-1", "девушка-кошка OVA-1"),
            ("Радуга в Кaрмане", "Радуга в Кармане"),
        ];
        for (dirty, clean) in cases {
            assert_eq!(mend_lookalikes(dirty), clean, "{dirty:?}");
        }
    }

    #[test]
    fn other_text_is_kept() {
        for text in [
            "Death Note",
            "Тетрадь смерти",
            "xxxHOLiC",
            "ABCдe",
            "Fate/Zero",
            "進撃の巨人",
            "",
            "  c  ",
            "Клинок, рассекающий демонов: Поезд «Бесконечный»",
        ] {
            assert!(
                matches!(mend_lookalikes(text), std::borrow::Cow::Borrowed(_)),
                "{text:?}"
            );
        }
    }
}
