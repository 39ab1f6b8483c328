//! `/search` lookups: which criteria a request names and which materials they select.
//!
//! Title matching is deliberately loose (a folded substring by default), because
//! upstream returns neighbouring titles of a franchise for a title query and importers
//! must match on external ids, never on title text alone.

use crate::{
    links,
    model::{Material, Work},
    params::Params,
};

/// Lower-cases, folds `ё` to `е` and punctuation to single spaces.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = if c == 'ё' { 'е' } else { c };
        if c.is_alphanumeric() {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The lookup parameters of one `/search` request.
#[derive(Debug, Default)]
pub struct Criteria {
    title: Option<String>,
    title_orig: Option<String>,
    strict: bool,
    full_match: bool,
    /// `strict` / `full_match` present at all, even as `false`.
    modifier_given: bool,
    id: Option<String>,
    shikimori_id: Option<String>,
    kinopoisk_id: Option<String>,
    imdb_id: Option<String>,
    mdl_id: Option<String>,
    worldart_animation_id: Option<String>,
    worldart_link: Option<String>,
    player_link: Option<String>,
}

impl Criteria {
    /// The criteria, or `None` when the request names none of them.
    pub fn parse(p: &Params) -> Option<Self> {
        let owned = |key: &str| p.get(key).map(str::to_owned);
        let criteria = Self {
            title: p.get("title").map(fold),
            title_orig: p.get("title_orig").map(fold),
            strict: p.flag("strict"),
            full_match: p.flag("full_match"),
            modifier_given: p.get("strict").is_some() || p.get("full_match").is_some(),
            id: owned("id"),
            shikimori_id: owned("shikimori_id"),
            kinopoisk_id: owned("kinopoisk_id"),
            imdb_id: owned("imdb_id"),
            mdl_id: owned("mdl_id"),
            worldart_animation_id: owned("worldart_animation_id"),
            worldart_link: owned("worldart_link"),
            player_link: owned("player_link"),
        };
        // `strict` and `full_match` count as criteria upstream even though they only
        // modify a title lookup.
        let any = criteria.title.is_some()
            || criteria.title_orig.is_some()
            || criteria.modifier_given
            || criteria.id.is_some()
            || criteria.shikimori_id.is_some()
            || criteria.kinopoisk_id.is_some()
            || criteria.imdb_id.is_some()
            || criteria.mdl_id.is_some()
            || criteria.worldart_animation_id.is_some()
            || criteria.worldart_link.is_some()
            || criteria.player_link.is_some();
        any.then_some(criteria)
    }

    fn name_matches(&self, query: &str, name: &str) -> bool {
        if query.is_empty() {
            return false;
        }
        if self.full_match {
            name == query
        } else if self.strict {
            format!(" {name} ").contains(&format!(" {query} "))
        } else {
            name.contains(query)
        }
    }

    /// Whether a material satisfies every criterion given.
    pub fn matches(&self, m: &Material, w: &Work) -> bool {
        fn same(wanted: &Option<String>, have: Option<&str>) -> bool {
            wanted.as_deref().is_none_or(|wanted| have == Some(wanted))
        }
        if let Some(query) = &self.title
            && !w
                .search_names
                .iter()
                .any(|name| self.name_matches(query, name))
        {
            return false;
        }
        if let Some(query) = &self.title_orig {
            let orig = w.title_orig.as_deref().map(fold);
            if !orig.is_some_and(|name| self.name_matches(query, &name)) {
                return false;
            }
        }
        if let Some(wanted) = &self.worldart_animation_id {
            let id = w
                .ids
                .worldart_link
                .as_deref()
                .and_then(|l| l.rsplit_once("id="))
                .map(|x| x.1);
            if id != Some(wanted.as_str()) {
                return false;
            }
        }
        if let Some(wanted) = &self.player_link
            && links::without_scheme(&m.link) != links::without_scheme(wanted)
        {
            return false;
        }
        same(&self.id, Some(&m.id()))
            && same(&self.shikimori_id, m.shikimori_id(w))
            && same(&self.kinopoisk_id, w.ids.kinopoisk_id.as_deref())
            && same(&self.imdb_id, w.ids.imdb_id.as_deref())
            && same(&self.mdl_id, w.ids.mdl_id.as_deref())
            && same(&self.worldart_link, w.ids.worldart_link.as_deref())
    }

    /// Whether the title query names this work exactly (such rows are listed first).
    pub fn exact_title(&self, w: &Work) -> bool {
        self.title
            .as_ref()
            .is_some_and(|q| w.search_names.first() == Some(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_punctuation_and_yo() {
        assert_eq!(
            fold("Наруто: Ураганные Хроники!"),
            "наруто ураганные хроники"
        );
        assert_eq!(fold("Ёжик  в тумане"), "ежик в тумане");
        assert_eq!(fold("Gintama&#039;"), "gintama 039");
    }

    #[test]
    fn needs_a_criterion() {
        assert!(Criteria::parse(&Params::from_pairs([("token", "t")])).is_none());
        assert!(Criteria::parse(&Params::from_pairs([("title", "x")])).is_some());
        assert!(Criteria::parse(&Params::from_pairs([("shikimori_id", "20")])).is_some());
    }
}
