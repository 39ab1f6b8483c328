//! Relevance over the real catalogue (`tools/fake-kodik/catalogue.jsonl.gz`, 14k titles
//! from AniDB and a Kaggle dump): real queries in Russian, romaji, English and Japanese
//! script, with typos, prefixes and punctuation, each with the releases a user means.
//! Prints the top-1 and top-3 hit rates and fails below 95 % top-3.

use uuid::Uuid;

use e2e::catalogue::release_id;

/// `(query, acceptable kodik ids)`; the first id is the intended one.
pub const QUERIES: &[(&str, &[u64])] = &[
    // romaji, as typed: lower case, no punctuation, long vowels in any spelling
    ("death note", &[4563]),
    ("shingeki no kyojin", &[9541]),
    ("sword art online", &[8692]),
    ("fullmetal alchemist brotherhood", &[6107]),
    ("angel beats", &[6564]),
    ("code geass", &[4521, 5373]),
    ("steins gate", &[7729]),
    ("toradora", &[5909]),
    ("elfen lied", &[1544]),
    ("tokyo ghoul", &[10401]),
    ("no game no life", &[9998]),
    ("ao no exorcist", &[8148]),
    ("soul eater", &[5610]),
    ("tengen toppa gurren lagann", &[4575]),
    ("durarara", &[6671]),
    ("one punch man", &[11123]),
    ("naruto shippuden", &[4880]),
    ("psycho pass", &[9127]),
    ("kill la kill", &[9875]),
    ("cowboy bebop", &[23]),
    ("sen to chihiro no kamikakushi", &[112]),
    ("neon genesis evangelion", &[22]),
    ("suzumiya haruhi no yuutsu", &[3651]),
    ("ouran koukou host club", &[4148]),
    ("shigatsu wa kimi no uso", &[10539]),
    ("ookami to koshinryo", &[5406]),
    ("natsume yujincho", &[5787]),
    ("kuroko no basuke", &[8681]),
    ("zankyou no terror", &[10537]),
    ("tonari no totoro", &[303]),
    ("Tōkyō Ghoul", &[10401]),
    // Russian
    ("тетрадь смерти", &[4563]),
    ("вторжение гигантов", &[9541]),
    ("мастер меча онлайн", &[8692]),
    ("стальной алхимик братство", &[6107]),
    ("наруто", &[239]),
    ("врата штейна", &[7729]),
    ("блич", &[2369]),
    ("токийский гуль", &[10401]),
    ("синий экзорцист", &[8148]),
    ("пожиратель душ", &[5610]),
    ("унесенные призраками", &[112]),
    ("евангелион", &[22]),
    ("меланхолия харухи судзумии", &[3651]),
    ("волчица и пряности", &[5406]),
    ("принцесса мононоке", &[7]),
    ("мой сосед тоторо", &[303]),
    // English
    ("attack on titan", &[9541]),
    ("spirited away", &[112]),
    ("blue exorcist", &[8148]),
    ("your lie in april", &[10539]),
    ("spice and wolf", &[5406]),
    ("princess mononoke", &[7]),
    ("my neighbor totoro", &[303]),
    ("the melancholy of haruhi suzumiya", &[3651]),
    ("terror in resonance", &[10537]),
    // Japanese script
    ("進撃の巨人", &[9541]),
    ("千と千尋の神隠し", &[112]),
    ("鋼の錬金術師", &[979, 6107]),
    ("涼宮ハルヒの憂鬱", &[3651]),
    ("となりのトトロ", &[303]),
    ("もののけ姫", &[7]),
    // typos
    ("shingeki no kyojn", &[9541]),
    ("naruot", &[239]),
    ("evangelon", &[22]),
    ("toradroa", &[5909]),
    ("стальной алхимек", &[979, 6107]),
    ("cowboy bebob", &[23]),
    // prefixes
    ("shingek", &[9541]),
    ("fullmetal alch", &[979, 6107]),
    ("sword art", &[8692]),
    ("steins", &[7729]),
    ("angel be", &[6564]),
    // joined forms and punctuation
    ("steinsgate", &[7729]),
    ("dgrayman", &[4549]),
    ("re zero", &[11370]),
    ("onepunchman", &[11123]),
    ("k-on", &[6257]),
    ("fate zero", &[8160]),
    ("hunter x hunter 2011", &[8550]),
];

/// Runs every query through `search` (which returns ids in rank order), prints the
/// misses and the rates, and returns `(top1, top3)` as fractions.
pub async fn evaluate<F, Fut>(search: F) -> (f64, f64)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Vec<Uuid>>,
{
    let mut top1 = 0;
    let mut top3 = 0;
    for (query, expected) in QUERIES {
        let wanted: Vec<Uuid> = expected.iter().map(|id| release_id(*id)).collect();
        let ranked = search((*query).to_owned()).await;
        let first_hit = ranked.first().is_some_and(|id| wanted.contains(id));
        let in_top3 = ranked.iter().take(3).any(|id| wanted.contains(id));
        top1 += usize::from(first_hit);
        top3 += usize::from(in_top3);
        if !in_top3 {
            println!("relevance miss: {query:?} expected {expected:?}");
        } else if !first_hit {
            println!("relevance top-3 only: {query:?} expected {expected:?}");
        }
    }
    let total = QUERIES.len() as f64;
    let (rate1, rate3) = (top1 as f64 / total, top3 as f64 / total);
    println!(
        "relevance: {} queries, top-1 {:.1} %, top-3 {:.1} %",
        QUERIES.len(),
        rate1 * 100.0,
        rate3 * 100.0
    );
    (rate1, rate3)
}
