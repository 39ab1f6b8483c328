//! The `/list` keyset cursor: base64 of the JSON pair `[sort key, last material id]`,
//! e.g. `WzE3MzU2MTkwNjcwMDAsInNlcmlhbC02MzY5NSJd` = `[1735619067000,"serial-63695"]`.
//!
//! Base64 is implemented here because the crate keeps to a short dependency list.
//! Decoding is lenient (url-safe alphabet, missing padding, and `+` turned into a space
//! by a client that forgot to escape it) since clients differ in how they pass it on.

use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Where the previous page stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The sort key of the last row: milliseconds for dates, the year, or a rating × 100.
    pub key: i64,
    /// The id of the last row (`serial-N` / `movie-N`).
    pub id: String,
}

/// A `next` value that is not a cursor this server wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorError(&'static str);

impl fmt::Display for CursorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid cursor: {}", self.0)
    }
}

impl std::error::Error for CursorError {}

impl Cursor {
    /// The `next` parameter value.
    pub fn encode(&self) -> String {
        let json = serde_json::json!([self.key, self.id]).to_string();
        base64_encode(json.as_bytes())
    }

    /// Reads a `next` parameter value.
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        let bytes = base64_decode(text).ok_or(CursorError("not base64"))?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| CursorError("not JSON"))?;
        let pair = value
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or(CursorError("not a pair"))?;
        let key = pair[0]
            .as_i64()
            // Truncation is intended: a float key only comes from a foreign cursor.
            .or_else(|| pair[0].as_f64().map(|f| f as i64))
            .ok_or(CursorError("sort key is not a number"))?;
        let id = pair[1]
            .as_str()
            .ok_or(CursorError("id is not a string"))?
            .to_owned();
        Ok(Self { key, id })
    }
}

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard or url-safe base64, padded or not; `None` on anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for byte in text.trim().trim_end_matches('=').bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' | b' ' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = bits << 6 | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count & 0xFF) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_upstream_sample() {
        let cursor = Cursor::decode("WzE3MzU2MTkwNjcwMDAsInNlcmlhbC02MzY5NSJd").expect("valid");
        assert_eq!(
            cursor,
            Cursor {
                key: 1_735_619_067_000,
                id: "serial-63695".into()
            }
        );
        assert_eq!(cursor.encode(), "WzE3MzU2MTkwNjcwMDAsInNlcmlhbC02MzY5NSJd");
    }

    #[test]
    fn round_trips_every_padding_length() {
        for id in ["movie-1", "movie-12", "movie-123", "serial-4257129"] {
            let cursor = Cursor {
                key: 1_600_000_000_123,
                id: id.into(),
            };
            let encoded = cursor.encode();
            assert_eq!(Cursor::decode(&encoded), Ok(cursor.clone()));
            // Lenient forms: no padding, url-safe alphabet, `+` turned into a space.
            let lenient = encoded
                .trim_end_matches('=')
                .replace('+', " ")
                .replace('/', "_");
            assert_eq!(Cursor::decode(&lenient), Ok(cursor));
        }
    }

    #[test]
    fn base64_matches_known_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(Cursor::decode("!!!").is_err());
        assert!(Cursor::decode(&base64_encode(b"{\"a\":1}")).is_err());
        assert!(Cursor::decode(&base64_encode(b"[\"x\",\"serial-1\"]")).is_err());
    }
}
