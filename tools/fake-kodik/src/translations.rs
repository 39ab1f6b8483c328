//! The translation teams (dubs and subtitle groups) whose rows the catalogue is made
//! of. One material is one title in one of these translations.
//!
//! Ids and names imitate the upstream's. Two pairs deliberately share a title with
//! different ids (`Субтитры` 869 and 1291, `AniLibria.TV` voice 610 and subtitles 3861):
//! an importer must key translations on `id`, never on the title.

use serde::Serialize;

/// Voice-over or subtitles, as in `translation.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TranslationType {
    Voice,
    Subtitles,
}

/// One team, serialised exactly as the `translation` object of a material.
#[derive(Debug, Serialize)]
pub struct Translation {
    pub id: u32,
    pub title: &'static str,
    #[serde(rename = "type")]
    pub kind: TranslationType,
    /// Relative share of rows; popular teams voice more titles. Not served.
    #[serde(skip)]
    pub weight: u32,
}

const fn voice(id: u32, title: &'static str, weight: u32) -> Translation {
    Translation {
        id,
        title,
        kind: TranslationType::Voice,
        weight,
    }
}

const fn subs(id: u32, title: &'static str, weight: u32) -> Translation {
    Translation {
        id,
        title,
        kind: TranslationType::Subtitles,
        weight,
    }
}

/// Every translation the server knows, in no particular order.
pub static TRANSLATIONS: [Translation; 40] = [
    voice(609, "AniDUB", 30),
    voice(610, "AniLibria.TV", 30),
    subs(3861, "AniLibria.TV", 4),
    voice(616, "AniMedia", 14),
    voice(735, "AnimeVost", 24),
    voice(767, "SHIZA Project", 18),
    voice(704, "JAM", 8),
    voice(739, "Amazing Dubbing", 6),
    voice(1002, "Flarrow Films", 5),
    voice(1062, "LE-Production", 6),
    voice(1355, "DubLik.Tv", 4),
    voice(1990, "NekoVoice", 4),
    subs(869, "Субтитры", 26),
    subs(1291, "Субтитры", 10),
    subs(2550, "Crunchyroll.Subtitles", 8),
    voice(1978, "Dream Cast", 7),
    voice(2068, "AniStar", 12),
    voice(1068, "Studio Band", 9),
    voice(643, "Persona99", 3),
    voice(958, "AniFilm", 7),
    voice(827, "Onibaku", 4),
    voice(1272, "Kansai Studio", 5),
    voice(1895, "Ancord", 8),
    voice(613, "2x2", 3),
    subs(2010, "Wakanim", 5),
    voice(1218, "Reanimedia", 6),
    voice(963, "MC Entertainment", 4),
    voice(1044, "Jaskier", 3),
    voice(2674, "Dex Studio", 2),
    voice(1123, "Sound-Group", 4),
    voice(3048, "AniPlague", 2),
    voice(1225, "Amber", 3),
    voice(2785, "Animaunt", 5),
    subs(1834, "Akari Group", 3),
    subs(1147, "FaNsubs", 4),
    subs(2512, "Timecraft", 2),
    subs(911, "Shachiburi", 2),
    voice(2234, "SovetRomantica", 5),
    subs(1801, "Kiraii Team", 2),
    voice(1025, "Многоголосый закадровый", 6),
];

/// The team with this id.
pub fn by_id(id: u32) -> Option<&'static Translation> {
    TRANSLATIONS.iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_and_two_titles_are_shared() {
        let ids: HashSet<u32> = TRANSLATIONS.iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), TRANSLATIONS.len());
        let subs: Vec<u32> = TRANSLATIONS
            .iter()
            .filter(|t| t.title == "Субтитры")
            .map(|t| t.id)
            .collect();
        assert_eq!(subs, [869, 1291]);
    }
}
