//! The served catalogue in memory: works, materials, and one pre-sorted index per
//! `sort` field so keyset pages are found by binary search.

use crate::model::{Material, Work};

/// A `/list` `sort` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    UpdatedAt,
    CreatedAt,
    Year,
    KinopoiskRating,
    ImdbRating,
    ShikimoriRating,
}

impl SortField {
    const ALL: [Self; 6] = [
        Self::UpdatedAt,
        Self::CreatedAt,
        Self::Year,
        Self::KinopoiskRating,
        Self::ImdbRating,
        Self::ShikimoriRating,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "updated_at" => Self::UpdatedAt,
            "created_at" => Self::CreatedAt,
            "year" => Self::Year,
            "kinopoisk_rating" => Self::KinopoiskRating,
            "imdb_rating" => Self::ImdbRating,
            "shikimori_rating" => Self::ShikimoriRating,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Materials ordered by `(sort key, material number)`; the number breaks ties, so the
/// order is total and a cursor names an exact position.
pub type OrderKey = (i64, u64);

#[derive(Debug)]
pub struct Store {
    pub works: Vec<Work>,
    pub materials: Vec<Material>,
    /// Per sort field, material indices in ascending key order.
    orders: Vec<Vec<u32>>,
}

/// A rating as an integer sort key (rating × 100); unrated rows sort lowest.
fn rating_key(rating: Option<f64>) -> i64 {
    // The product is at most 1000, far inside i64.
    rating.map_or(-1, |r| (r * 100.0).round() as i64)
}

impl Store {
    pub fn new(works: Vec<Work>, materials: Vec<Material>) -> Self {
        let mut store = Self {
            works,
            materials,
            orders: Vec::new(),
        };
        let count = u32::try_from(store.materials.len()).expect("fewer than 2^32 materials");
        store.orders = SortField::ALL
            .iter()
            .map(|&field| {
                let mut order: Vec<u32> = (0..count).collect();
                order.sort_by_key(|&i| store.key(&store.materials[i as usize], field));
                order
            })
            .collect();
        store
    }

    pub fn work_of(&self, m: &Material) -> &Work {
        &self.works[m.work]
    }

    /// The position of a material in the `field` order.
    pub fn key(&self, m: &Material, field: SortField) -> OrderKey {
        let facts = &self.work_of(m).facts;
        let key = match field {
            SortField::UpdatedAt => m.updated_ms,
            SortField::CreatedAt => m.created_ms,
            SortField::Year => i64::from(self.work_of(m).year),
            SortField::KinopoiskRating => rating_key(facts.kinopoisk_rating),
            SortField::ImdbRating => rating_key(facts.imdb_rating),
            SortField::ShikimoriRating => rating_key(facts.shikimori_rating),
        };
        (key, m.number)
    }

    /// Material indices in ascending `field` order.
    pub fn order(&self, field: SortField) -> &[u32] {
        &self.orders[field.index()]
    }
}
