//! Request parameters as upstream takes them: from the query string or a
//! form-urlencoded body (a JSON body is not understood), and written back into the
//! `next_page` URL.
//!
//! Decoding and encoding are done here rather than with a URL crate because the crate
//! keeps to a short list of dependencies, and the rules are small.

/// Parameters in arrival order; a later occurrence of a key overrides an earlier one.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from a query string or form body (`a=1&b=x+y`).
    pub fn parse(encoded: &str) -> Self {
        let mut params = Self::default();
        params.extend_from(encoded);
        params
    }

    /// Adds the pairs of another query string or form body.
    pub fn extend_from(&mut self, encoded: &str) {
        for pair in encoded.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            self.pairs
                .push((percent_decode(key), percent_decode(value)));
        }
    }

    /// Parameters from literal pairs.
    #[cfg(test)]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// The value of `key`; an empty value counts as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A boolean parameter: upstream spells true as `true`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// An optional boolean filter (`true` / `false`).
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }

    /// A comma-separated list, trimmed, without empty items.
    pub fn list(&self, key: &str) -> Option<Vec<&str>> {
        let items: Vec<&str> = self
            .get(key)?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        (!items.is_empty()).then_some(items)
    }

    /// Every pair except those under `skip`, re-encoded for a URL, in arrival order.
    pub fn encode_without(&self, skip: &[&str]) -> String {
        let mut out = String::new();
        for (key, value) in &self.pairs {
            if skip.contains(&key.as_str()) {
                continue;
            }
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&percent_encode(key));
            out.push('=');
            out.push_str(&percent_encode(value));
        }
        out
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Form decoding: `+` is a space, `%XX` a byte; malformed escapes are kept literally.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes everything but RFC 3986 unreserved characters, so base64 `+`, `/` and `=`
/// survive a trip through a query string.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_and_lets_later_values_win() {
        let p = Params::parse("title=%D0%9D%D0%B0%D1%80%D1%83%D1%82%D0%BE&a=1&a=2&b=x+y&e=");
        assert_eq!(p.get("title"), Some("Наруто"));
        assert_eq!(p.get("a"), Some("2"));
        assert_eq!(p.get("b"), Some("x y"));
        assert_eq!(p.get("e"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn encodes_round_trip() {
        let text = "WzE3MzU2,+/= Наруто";
        assert_eq!(percent_decode(&percent_encode(text)), text);
        let p = Params::from_pairs([("token", "t"), ("types", "anime,anime-serial"), ("x", "1")]);
        assert_eq!(
            p.encode_without(&["token"]),
            "types=anime%2Canime-serial&x=1"
        );
    }
}
