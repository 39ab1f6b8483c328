//! The password policy: what a new password must be, at registration and at a
//! password change. No I/O; the checks are pure and report every broken rule.

use unicode_normalization::UnicodeNormalization;
use zxcvbn::zxcvbn;

/// Limits of the password length, in characters after NFC normalisation.
pub const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 10..=256;

/// zxcvbn only looks at this many leading characters: its matching is superlinear
/// and a password this long is never short of guesses because of what follows.
const STRENGTH_CHECK_CHARS: usize = 100;

/// The strength rule's setting.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// The least zxcvbn score (0 to 4) accepted.
    pub min_score: u8,
}

/// The NFC form of a password, so that the same characters typed on two keyboards
/// hash alike.
pub fn normalise(password: &str) -> String {
    password.nfc().collect()
}

impl PasswordPolicy {
    /// Every rule `password` (already normalised) breaks for the account with this
    /// `username` and `email`: neither may appear in it, nor the email's local part.
    pub fn violations_for(&self, password: &str, username: &str, email: &str) -> Vec<String> {
        let local_part = email.split('@').next().unwrap_or_default();
        self.violations(password, &[username, email, local_part])
    }

    /// Every rule `password` (already normalised) breaks, as messages for the field.
    /// `personal` holds what must not appear in it (parts shorter than three
    /// characters are not looked for).
    pub fn violations(&self, password: &str, personal: &[&str]) -> Vec<String> {
        let length = password.chars().count();
        if !PASSWORD_LENGTH.contains(&length) {
            return vec![format!(
                "must be {} to {} characters",
                PASSWORD_LENGTH.start(),
                PASSWORD_LENGTH.end()
            )];
        }

        let mut violations = Vec::new();
        let lowered = password.to_lowercase();
        let contains_personal = personal
            .iter()
            .map(|part| part.trim().to_lowercase())
            .filter(|part| part.chars().count() >= 3)
            .any(|part| lowered.contains(&part));
        if contains_personal {
            violations.push("must not contain your username or email address".to_owned());
        }

        let checked: String = password.chars().take(STRENGTH_CHECK_CHARS).collect();
        let score = u8::from(zxcvbn(&checked, personal).score());
        if score < self.min_score {
            violations.push(format!(
                "is too easy to guess (strength {score} of 4, at least {} needed); \
                 use a longer passphrase of unrelated words",
                self.min_score
            ));
        }
        violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PasswordPolicy = PasswordPolicy { min_score: 3 };

    #[test]
    fn strong_passphrases_pass() {
        assert!(
            POLICY
                .violations("velvet kettle orbit marmalade", &["hikari"])
                .is_empty()
        );
    }

    #[test]
    fn guessable_short_and_personal_passwords_fail() {
        assert_eq!(POLICY.violations("short", &[]).len(), 1);
        assert!(!POLICY.violations("password123", &[]).is_empty());
        assert!(!POLICY.violations("aaaaaaaaaaaa", &[]).is_empty());
        let personal = POLICY.violations("Hikari velvet kettle orbit", &["hikari", "h.k"]);
        assert!(personal.iter().any(|message| message.contains("username")));
    }

    #[test]
    fn the_whole_email_counts_even_when_its_local_part_is_short() {
        let with_email =
            POLICY.violations_for("velvet jo@example.org kettle", "hikari", "jo@example.org");
        assert!(with_email.iter().any(|message| message.contains("email")));
        let with_local_part = POLICY.violations_for(
            "velvet kettle hikaru orbit",
            "someone",
            "hikaru@example.org",
        );
        assert!(
            with_local_part
                .iter()
                .any(|message| message.contains("email"))
        );
        assert!(
            POLICY
                .violations_for("velvet kettle orbit marmalade", "hikari", "jo@example.org")
                .is_empty(),
            "a two-letter local part alone is not looked for"
        );
    }

    #[test]
    fn length_counts_characters_after_normalisation() {
        // "e" + combining acute accent is one character in NFC.
        let decomposed = "e\u{301}".repeat(9);
        assert_eq!(normalise(&decomposed).chars().count(), 9);
    }
}
