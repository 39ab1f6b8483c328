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
    matches!(c, '\u{0400}'..='\u{052F}') && c.is_alphabetic()
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
    // Each piece is a word and the separator after it; separators are neither Cyrillic
    // letters nor look-alikes, so a piece is judged and mended as its word.
    let pieces = || text.split_inclusive(|c: char| !c.is_alphanumeric());
    let needs_mending = |piece: &str| {
        let (mut cyrillic, mut latin) = (0, 0);
        for c in piece.chars() {
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
    if !pieces().any(needs_mending) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        pieces()
            .flat_map(|piece| {
                let mend = needs_mending(piece);
                piece.chars().map(move |c| {
                    if mend {
                        cyrillic_twin(c).unwrap_or(c)
                    } else {
                        c
                    }
                })
            })
            .collect(),
    )
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
