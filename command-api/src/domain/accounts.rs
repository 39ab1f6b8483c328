//! Accounts: registration rules and password hashing.

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use platform::http::FieldError;

/// Argon2id cost parameters, from configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswordHashingArgs {
    /// Argon2id memory cost in KiB (at least 19456, OWASP's minimum).
    #[arg(long, env = "ARGON2_MEMORY_KIB", default_value_t = 19_456,
          value_parser = clap::value_parser!(u32).range(19_456..))]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations (at least 2).
    #[arg(long, env = "ARGON2_ITERATIONS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub argon2_iterations: u32,

    /// Argon2id lanes.
    #[arg(long, env = "ARGON2_PARALLELISM", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub argon2_parallelism: u32,
}

/// Hashes passwords with argon2id at the configured cost.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
}

impl PasswordHasher {
    /// A hasher with the given cost parameters.
    pub fn new(args: &PasswordHashingArgs) -> Result<Self, argon2::Error> {
        let params = Params::new(
            args.argon2_memory_kib,
            args.argon2_iterations,
            args.argon2_parallelism,
            None,
        )?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string of `password` with a fresh random salt. CPU-heavy: call it
    /// from a blocking task.
    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        Ok(self
            .argon2()
            .hash_password(password.as_bytes())?
            .to_string())
    }
}

/// A registration whose fields passed every rule.
#[derive(Debug)]
pub struct Registration {
    /// Trimmed and lower-cased, so that one mailbox maps to one account.
    pub email: String,
    /// As typed, trimmed; compared without regard to case.
    pub username: String,
    /// As typed.
    pub password: String,
}

/// Limits of registration fields.
pub const USERNAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=32;
/// Limits of the password length, in characters.
pub const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 10..=256;
const EMAIL_MAX_LENGTH: usize = 254;

impl Registration {
    /// Checks every field and reports every broken rule at once.
    pub fn validate(email: &str, username: &str, password: &str) -> Result<Self, Vec<FieldError>> {
        let email = email.trim().to_lowercase();
        let username = username.trim().to_owned();
        let mut errors = Vec::new();
        let mut reject = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            });
        };

        if !is_plausible_email(&email) {
            reject(
                "email",
                "must be an email address such as name@example.org".to_owned(),
            );
        }
        if !USERNAME_LENGTH.contains(&username.chars().count()) {
            reject(
                "username",
                format!(
                    "must be {} to {} characters",
                    USERNAME_LENGTH.start(),
                    USERNAME_LENGTH.end()
                ),
            );
        } else if !is_valid_username(&username) {
            reject(
                "username",
                "may hold letters, digits, '_', '-' and '.', and must start with a letter or digit"
                    .to_owned(),
            );
        }
        if !PASSWORD_LENGTH.contains(&password.chars().count()) {
            reject(
                "password",
                format!(
                    "must be {} to {} characters",
                    PASSWORD_LENGTH.start(),
                    PASSWORD_LENGTH.end()
                ),
            );
        }

        if errors.is_empty() {
            Ok(Self {
                email,
                username,
                password: password.to_owned(),
            })
        } else {
            Err(errors)
        }
    }
}

/// A deliberately loose check: one `@`, something before it, a dotted domain after
/// it, no spaces. Whether the mailbox exists is only known by writing to it.
fn is_plausible_email(email: &str) -> bool {
    if email.len() > EMAIL_MAX_LENGTH || email.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

fn is_valid_username(username: &str) -> bool {
    let mut chars = username.chars();
    let starts_well = chars.next().is_some_and(char::is_alphanumeric);
    starts_well
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_normalises_email_and_reports_every_rule() {
        let registration = Registration::validate("  Name@Example.ORG ", "neo", "correct horse")
            .expect("valid registration");
        assert_eq!(registration.email, "name@example.org");

        let errors = Registration::validate("nope", "-x", "short").expect_err("three problems");
        let fields: Vec<_> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["email", "username", "password"]);
    }
}
