//! Accounts: registration rules and password hashing.

use std::sync::{Arc, Mutex, PoisonError};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::phc::{Output, ParamsString, Salt},
};
use platform::http::FieldError;
use unicode_normalization::UnicodeNormalization as _;

use super::passwords::{self, PasswordPolicy};

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

    /// Least zxcvbn strength score (0 to 4) of a new password.
    #[arg(long, env = "PASSWORD_MIN_SCORE", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(0..=4))]
    pub password_min_score: u8,
}

impl PasswordHashingArgs {
    /// The password policy these settings describe.
    pub fn policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_score: self.password_min_score,
        }
    }
}

/// Hashes and verifies passwords with argon2id at the configured cost.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password at the current cost. Logins of unknown accounts
    /// verify against it, so they cost what a known account's login costs.
    dummy_hash: Arc<String>,
    scratch: Arc<Scratch>,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Wrong password (or an unusable stored hash).
    Mismatch,
    /// Right password, hash at the current cost.
    Match,
    /// Right password, but the hash is cheaper than the configured cost: re-hash it.
    MatchNeedsRehash,
}

/// Argon2 working memory kept from one job to the next. Allocating it per job means
/// the kernel maps and zeroes `ARGON2_MEMORY_KIB` of fresh pages every time, which
/// cost about a third again as much CPU as the hash itself on a busy server.
/// At most `keep` buffers stay allocated (one per concurrent hashing job).
struct Scratch {
    free: Mutex<Vec<Vec<Block>>>,
    keep: usize,
}

impl Scratch {
    fn new(keep: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// Runs `work` with `blocks` blocks of working memory.
    fn with<T>(&self, blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let taken = self.lock().pop();
        let mut memory = taken.unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        let result = work(&mut memory[..blocks]);
        let mut free = self.lock();
        if free.len() < self.keep {
            free.push(memory);
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PasswordHasher {
    /// A hasher with the given cost parameters that keeps working memory for
    /// `concurrent_jobs` jobs. Hashes a dummy password, so it takes one hash's time.
    pub fn new(args: &PasswordHashingArgs, concurrent_jobs: usize) -> Result<Self, argon2::Error> {
        let params = Params::new(
            args.argon2_memory_kib,
            args.argon2_iterations,
            args.argon2_parallelism,
            None,
        )?;
        let mut hasher = Self {
            params,
            dummy_hash: Arc::new(String::new()),
            scratch: Arc::new(Scratch::new(concurrent_jobs.max(1))),
        };
        let random: [u8; 32] = rand::random();
        let dummy_password: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
        let dummy_hash = hasher
            .hash(&dummy_password)
            .map_err(|_| argon2::Error::AlgorithmInvalid)?;
        hasher.dummy_hash = Arc::new(dummy_hash);
        Ok(hasher)
    }

    /// Checks `password` against a stored PHC string. CPU-heavy: call it from a
    /// blocking task.
    pub fn verify(&self, password: &str, stored: &str) -> Verification {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verification::Mismatch;
        };
        if !self.matches(password.as_bytes(), &parsed) {
            return Verification::Mismatch;
        }
        if self.is_weaker_than_configured(&parsed) {
            Verification::MatchNeedsRehash
        } else {
            Verification::Match
        }
    }

    /// Spends the work of one verification without a stored hash to compare with.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy_hash);
    }

    /// Recomputes the hash with the stored algorithm, version, cost and salt and
    /// compares the outputs in constant time.
    fn matches(&self, password: &[u8], stored: &PasswordHash) -> bool {
        let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::new(stored.algorithm.as_str()) else {
            return false;
        };
        let version = match stored.version.map(Version::try_from).transpose() {
            Ok(version) => version.unwrap_or_default(),
            Err(_) => return false,
        };
        let Ok(params) = Params::try_from(stored) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut buffer = [0_u8; Output::MAX_LENGTH];
        let Some(computed) = buffer.get_mut(..expected.len()) else {
            return false;
        };
        let hashed = self.scratch.with(params.block_count(), |memory| {
            argon2.hash_password_into_with_memory(password, salt, &mut *computed, memory)
        });
        hashed.is_ok() && Output::new(computed).is_ok_and(|computed| computed == *expected)
    }

    fn is_weaker_than_configured(&self, hash: &PasswordHash) -> bool {
        if hash.algorithm.as_str() != "argon2id" {
            return true;
        }
        let Ok(stored) = Params::try_from(hash) else {
            return true;
        };
        stored.m_cost() < self.params.m_cost()
            || stored.t_cost() < self.params.t_cost()
            || stored.p_cost() < self.params.p_cost()
    }

    /// The PHC string of `password` with a fresh random salt. CPU-heavy: call it
    /// from a blocking task.
    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt: [u8; Salt::RECOMMENDED_LENGTH] = rand::random();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut output = [0_u8; Params::DEFAULT_OUTPUT_LEN];
        self.scratch.with(self.params.block_count(), |memory| {
            argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut output, memory)
        })?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)?,
            salt: Some(Salt::new(&salt)?),
            hash: Some(Output::new(&output)?),
        };
        Ok(phc.to_string())
    }
}

/// A registration whose fields passed every rule.
#[derive(Debug)]
pub struct Registration {
    /// In the form of `platform::auth::login_key` (trimmed, composed, lower-cased one
    /// character at a time), so that one mailbox maps to one account.
    pub email: String,
    /// As typed, trimmed and composed (NFC); compared without regard to case.
    pub username: String,
    /// As typed.
    pub password: String,
}

/// Limits of registration fields.
pub const USERNAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=32;
const EMAIL_MAX_LENGTH: usize = 254;

impl Registration {
    /// Checks every field and reports every broken rule at once.
    pub fn validate(
        email: &str,
        username: &str,
        password: &str,
        policy: &PasswordPolicy,
    ) -> Result<Self, Vec<FieldError>> {
        // One spelling per address and name: an email is stored in exactly the form
        // sign-in looks a login up by; a username composed (NFC), case kept.
        let email = platform::auth::login_key(email);
        let username = username.trim().nfc().collect::<String>();
        let password = passwords::normalise(password);
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
        for message in policy.violations_for(&password, &username, &email) {
            reject("password", message);
        }

        if errors.is_empty() {
            Ok(Self {
                email,
                username,
                password,
            })
        } else {
            Err(errors)
        }
    }
}

/// A deliberately loose check: one `@`, something before it, a dotted domain after
/// it, no spaces or control characters. Whether the mailbox exists is only known by
/// writing to it.
fn is_plausible_email(email: &str) -> bool {
    if email.len() > EMAIL_MAX_LENGTH || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
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

    const POLICY: PasswordPolicy = PasswordPolicy { min_score: 3 };

    #[test]
    fn registration_normalises_email_and_reports_every_rule() {
        let registration = Registration::validate(
            "  Name@Example.ORG ",
            "neo",
            "velvet kettle orbit marmalade",
            &POLICY,
        )
        .expect("valid registration");
        assert_eq!(registration.email, "name@example.org");

        let errors =
            Registration::validate("nope", "-x", "short", &POLICY).expect_err("three problems");
        let fields: Vec<_> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["email", "username", "password"]);
    }

    #[test]
    fn one_spelling_per_address_and_no_control_characters() {
        let password = "velvet kettle orbit marmalade";
        let composed =
            Registration::validate("\u{e9}lo@example.org", "r\u{e9}mi", password, &POLICY)
                .expect("composed");
        let decomposed =
            Registration::validate("e\u{301}lo@example.org", "re\u{301}mi", password, &POLICY)
                .expect("decomposed spellings are accepted as their composed form");
        assert_eq!(decomposed.email, composed.email);
        assert_eq!(decomposed.username, composed.username);

        let errors = Registration::validate("a\u{7}b@example.org", "bell", password, &POLICY)
            .expect_err("a control character");
        assert_eq!(errors[0].field, "email");
    }

    #[test]
    fn a_weaker_stored_hash_is_flagged_for_rehashing() {
        let args = |memory_kib, iterations| PasswordHashingArgs {
            argon2_memory_kib: memory_kib,
            argon2_iterations: iterations,
            argon2_parallelism: 1,
            password_min_score: 3,
        };
        let old = PasswordHasher::new(&args(19_456, 2), 1).expect("hasher");
        let stored = old.hash("velvet kettle orbit").expect("hash");
        assert_eq!(
            old.verify("velvet kettle orbit", &stored),
            Verification::Match
        );
        assert_eq!(old.verify("wrong", &stored), Verification::Mismatch);

        let stronger = PasswordHasher::new(&args(19_456, 3), 1).expect("hasher");
        assert_eq!(
            stronger.verify("velvet kettle orbit", &stored),
            Verification::MatchNeedsRehash
        );
    }

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};

        let args = PasswordHashingArgs {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            password_min_score: 3,
        };
        let ours = PasswordHasher::new(&args, 2).expect("hasher");
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19_456, 2, 1, None).expect("params"),
        );

        let made_here = ours.hash("velvet kettle orbit").expect("hash");
        assert!(made_here.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let parsed = PasswordHash::new(&made_here).expect("a PHC string");
        assert!(
            reference
                .verify_password(b"velvet kettle orbit", &parsed)
                .is_ok()
        );

        let made_elsewhere = reference
            .hash_password(b"velvet kettle orbit")
            .expect("hash")
            .to_string();
        assert_eq!(
            ours.verify("velvet kettle orbit", &made_elsewhere),
            Verification::Match
        );
        assert_eq!(
            ours.verify("velvet kettle orbiT", &made_elsewhere),
            Verification::Mismatch
        );
        // A cheaper argon2i hash from an older deployment still verifies, and asks
        // for an upgrade; its working memory is smaller than the pooled buffers'.
        let older = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(8_192, 3, 1, None).expect("params"),
        )
        .hash_password(b"velvet kettle orbit")
        .expect("hash")
        .to_string();
        assert_eq!(
            ours.verify("velvet kettle orbit", &older),
            Verification::MatchNeedsRehash
        );
        assert_eq!(ours.verify("x", "not a hash"), Verification::Mismatch);
    }
}
