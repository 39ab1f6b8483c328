//! Player links in every form the upstream has used, and the deterministic hashes that
//! make them look like real Kodik links.
//!
//! Upstream links were protocol-relative (`//kodik.info/...`, older hosts `kodik.cc`
//! and `aniqit.com`), some rows carry plain `http://` links, and since 2026 they may
//! be absolute `https://kodikplayer.com/...`. Importers must normalise all of them, so
//! the catalogue spreads its rows over every form.

/// Where a material's player links point, and in which spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkHost {
    /// `//kodik.info` — the common old form.
    KodikInfo,
    /// `//kodik.cc` — an older host, protocol-relative.
    KodikCc,
    /// `//aniqit.com` — an older host, protocol-relative.
    Aniqit,
    /// `http://kodik.cc` — absolute but not https.
    KodikCcHttp,
    /// `http://aniqit.com` — absolute but not https.
    AniqitHttp,
    /// `https://kodikplayer.com` — the 2026 form.
    KodikPlayer,
}

impl LinkHost {
    /// The link prefix, up to but excluding the path.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::KodikInfo => "//kodik.info",
            Self::KodikCc => "//kodik.cc",
            Self::Aniqit => "//aniqit.com",
            Self::KodikCcHttp => "http://kodik.cc",
            Self::AniqitHttp => "http://aniqit.com",
            Self::KodikPlayer => "https://kodikplayer.com",
        }
    }

    /// Picks a form from a uniform roll in `0..100`; most rows use the old
    /// protocol-relative form, a fifth the new https one.
    pub fn from_roll(roll: u32) -> Self {
        match roll {
            0..60 => Self::KodikInfo,
            60..65 => Self::KodikCc,
            65..70 => Self::Aniqit,
            70..75 => Self::KodikCcHttp,
            75..80 => Self::AniqitHttp,
            _ => Self::KodikPlayer,
        }
    }
}

/// What a link points at; the tag also keeps hashes of different objects apart.
#[derive(Debug, Clone, Copy)]
pub enum LinkKind {
    Video,
    Serial,
    Season,
    Seria,
}

impl LinkKind {
    fn path(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Serial => "serial",
            Self::Season => "season",
            Self::Seria => "seria",
        }
    }
}

/// A player link: `<prefix>/<kind>/<id>/<32 hex digits>/720p`.
pub fn player_link(host: LinkHost, kind: LinkKind, id: u64) -> String {
    format!(
        "{}/{}/{id}/{}/720p",
        host.prefix(),
        kind.path(),
        hex_digest(kind as u64, id)
    )
}

/// A thumbnail URL like the upstream's `i.kodik.biz` ones.
pub fn screenshot(kind: LinkKind, id: u64, n: u8) -> String {
    let dir = match kind {
        LinkKind::Video => "video",
        _ => "seria",
    };
    format!("https://i.kodik.biz/screenshots/{dir}/{id}/{n}.jpg")
}

/// The part of a link after its scheme, so every spelling of one link compares equal.
pub fn without_scheme(link: &str) -> &str {
    let rest = link
        .strip_prefix("https:")
        .or_else(|| link.strip_prefix("http:"))
        .unwrap_or(link);
    rest.trim_start_matches('/')
}

/// SplitMix64: a tiny, well-mixed, stable hash for ids that must look random but never
/// change between runs.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn hex_digest(tag: u64, id: u64) -> String {
    let a = mix(id ^ (tag << 56));
    let b = mix(a ^ 0x5851_F42D_4C95_7F2D);
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_stable_and_shaped_like_upstream() {
        let link = player_link(LinkHost::KodikInfo, LinkKind::Serial, 63695);
        assert_eq!(
            link,
            player_link(LinkHost::KodikInfo, LinkKind::Serial, 63695)
        );
        let parts: Vec<&str> = link.split('/').collect();
        assert_eq!(parts[..5], ["", "", "kodik.info", "serial", "63695"]);
        assert_eq!(parts[5].len(), 32);
        assert_eq!(parts[6], "720p");
    }

    #[test]
    fn scheme_is_ignored_when_comparing() {
        assert_eq!(without_scheme("//kodik.info/a"), "kodik.info/a");
        assert_eq!(without_scheme("https://kodik.info/a"), "kodik.info/a");
        assert_eq!(without_scheme("http://kodik.info/a"), "kodik.info/a");
    }
}
