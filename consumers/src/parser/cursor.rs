//! The upstream's pagination cursor.
//!
//! `/list` answers with `next_page`, a full URL on the upstream's own host that holds
//! the `token` and the `next` cursor. The parser never follows that URL: it takes the
//! cursor out and sends it to the configured base URL with the original filters, so a
//! moved or spoofed host never receives the token. Nothing here puts the URL into an
//! error or a log line.

use reqwest::Url;

/// Why a `next_page` value gave no cursor.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// The value is not a URL at all.
    #[error("next_page is not a URL")]
    NotAUrl,
    /// The URL carries no `next` parameter (or an empty one).
    #[error("next_page has no next cursor")]
    Missing,
}

/// The `next` cursor of a `next_page` URL. Relative URLs are accepted too, since only
/// the query matters.
pub fn next_cursor(next_page: &str) -> Result<String, CursorError> {
    // Joining onto a placeholder base parses absolute URLs as they are and gives
    // relative ones a host, so one call handles both.
    let url = Url::parse("https://upstream.invalid/")
        .and_then(|base| base.join(next_page))
        .map_err(|_| CursorError::NotAUrl)?;
    url.query_pairs()
        .find(|(key, _)| key == "next")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
        .ok_or(CursorError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_is_taken_out_of_an_absolute_url_on_another_host() {
        let next_page = "https://kodik-api.com/list?token=secret&next=WzE3MTAwNjEyMDAwMDAsInNlcmlhbC05Il0%3D&limit=3&types=anime%2Canime-serial";
        assert_eq!(
            next_cursor(next_page),
            Ok("WzE3MTAwNjEyMDAwMDAsInNlcmlhbC05Il0=".to_owned())
        );
    }

    #[test]
    fn a_relative_url_works_too() {
        assert_eq!(
            next_cursor("/list?next=abc&token=secret"),
            Ok("abc".to_owned())
        );
    }

    #[test]
    fn a_url_without_a_cursor_is_an_error_that_does_not_repeat_the_url() {
        let error = next_cursor("https://kodik-api.com/list?token=secret&next=")
            .expect_err("an empty cursor is no cursor");
        assert_eq!(error, CursorError::Missing);
        assert!(!error.to_string().contains("secret"));
        assert_eq!(
            next_cursor("https://kodik-api.com/list?token=secret"),
            Err(CursorError::Missing)
        );
    }

    #[test]
    fn garbage_is_not_a_url() {
        assert_eq!(next_cursor("http://[::1"), Err(CursorError::NotAUrl));
    }
}
