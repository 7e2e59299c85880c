//! The password database: argon2id hashes (OWASP parameters: 19 MiB, t=2,
//! p=1), computed on the blocking pool so a burst of logins never stalls
//! discovery or token requests on the async workers.

use crate::model::ValidationError;
use crate::model::connection::{ConnectionOptions, PasswordPolicy};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Hashes `password` off the async runtime.
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await?
}

/// Verifies `password` against a stored PHC hash, off the async runtime.
/// A malformed stored hash verifies nothing.
pub async fn verify_password(password: String, stored_hash: String) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored_hash)
            .map(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(PasswordError::from)
}

/// The `passwordPolicy` of a database connection (other connections have
/// no password, and no policy).
fn policy(options: &ConnectionOptions) -> Option<PasswordPolicy> {
    options.database().and_then(|db| db.password_policy)
}

/// The minimum password length of a database connection: its
/// `password_complexity_options.min_length`, else by `passwordPolicy` as in
/// Auth0 (none 1, low 6, fair 8, good 8, excellent 10), else 8.
pub fn min_password_length(options: &ConnectionOptions) -> usize {
    if let Some(n) = options
        .database()
        .and_then(|db| db.password_complexity_options.as_ref())
        .and_then(|c| c.min_length)
    {
        return usize::try_from(n).unwrap_or(8);
    }
    match policy(options) {
        Some(PasswordPolicy::None) => 1,
        Some(PasswordPolicy::Low) => 6,
        Some(PasswordPolicy::Excellent) => 10,
        Some(PasswordPolicy::Fair | PasswordPolicy::Good) | None => 8,
    }
}

/// Auth0's `passwordPolicy` levels beyond length: which kinds of
/// characters a password must mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// No rule beyond the length (`none`, `low`, or no policy).
    Any,
    /// `fair`: a lower-case letter, an upper-case letter and a digit.
    LowerUpperDigit,
    /// `good`: three of lower-case, upper-case, digits, other characters.
    ThreeOfFour,
    /// `excellent`: as `good`, and no character three times in a row.
    ThreeOfFourNoRuns,
}

fn mix(options: &ConnectionOptions) -> Mix {
    match policy(options) {
        Some(PasswordPolicy::Fair) => Mix::LowerUpperDigit,
        Some(PasswordPolicy::Good) => Mix::ThreeOfFour,
        Some(PasswordPolicy::Excellent) => Mix::ThreeOfFourNoRuns,
        Some(PasswordPolicy::None | PasswordPolicy::Low) | None => Mix::Any,
    }
}

/// What the connection's policy requires of a new password, for the sign-up
/// page ("Your password must contain …"): what [`check_password_policy`] checks.
pub fn describe_password_policy(options: &ConnectionOptions) -> String {
    let length = format!(
        "at least {} characters (at most 1024)",
        min_password_length(options)
    );
    match mix(options) {
        Mix::Any => length,
        Mix::LowerUpperDigit => {
            format!("{length}, with a lower-case letter, an upper-case letter and a digit")
        }
        Mix::ThreeOfFour => format!(
            "{length}, with three of: lower-case letters, upper-case letters, digits, other characters"
        ),
        Mix::ThreeOfFourNoRuns => format!(
            "{length}, with three of: lower-case letters, upper-case letters, digits, other characters; \
             no character more than twice in a row"
        ),
    }
}

/// Checks a new password against the connection's policy.
pub fn check_password_policy(
    options: &ConnectionOptions,
    password: &str,
) -> Result<(), ValidationError> {
    let weak = || {
        ValidationError::new(
            "password",
            format!(
                "PasswordStrengthError: Password is too weak ({})",
                describe_password_policy(options)
            ),
        )
    };
    let length = password.chars().count();
    if length < min_password_length(options) {
        return Err(weak());
    }
    // argon2 takes any length, but an unbounded input is a denial-of-service lever.
    if length > 1024 {
        return Err(ValidationError::new(
            "password",
            "must be at most 1024 characters",
        ));
    }
    let lower = password.chars().any(char::is_lowercase);
    let upper = password.chars().any(char::is_uppercase);
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let other = password.chars().any(|c| !c.is_alphanumeric());
    let kinds = [lower, upper, digit, other].iter().filter(|k| **k).count();
    let chars: Vec<char> = password.chars().collect();
    let has_run = chars.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]);
    let strong = match mix(options) {
        Mix::Any => true,
        Mix::LowerUpperDigit => lower && upper && digit,
        Mix::ThreeOfFour => kinds >= 3,
        Mix::ThreeOfFourNoRuns => kinds >= 3 && !has_run,
    };
    if strong { Ok(()) } else { Err(weak()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::connection::Strategy;
    use serde_json::{Value, json};

    fn database(options: Value) -> ConnectionOptions {
        ConnectionOptions::parse(Strategy::Database, options.as_object().cloned().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_fail() -> Result<(), PasswordError> {
        let hash = hash_password("correct horse".into()).await?;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse".into(), hash.clone()).await?);
        assert!(!verify_password("wrong horse".into(), hash).await?);
        assert!(!verify_password("x".into(), "not a hash".into()).await?);
        Ok(())
    }

    #[test]
    fn policy_lengths() {
        let opts = database;
        assert_eq!(min_password_length(&opts(json!({}))), 8);
        assert_eq!(
            min_password_length(&opts(json!({"passwordPolicy": "excellent"}))),
            10
        );
        assert_eq!(
            min_password_length(&opts(
                json!({"password_complexity_options": {"min_length": 12}})
            )),
            12
        );
        assert!(check_password_policy(&opts(json!({})), "short").is_err());
        assert!(check_password_policy(&opts(json!({})), "long enough").is_ok());
        assert!(
            describe_password_policy(&opts(json!({"passwordPolicy": "excellent"})))
                .starts_with("at least 10 characters (at most 1024), with three of")
        );
    }

    #[test]
    fn policy_character_mixes_follow_auth0s_levels() {
        let policy = |level: &str| database(json!({ "passwordPolicy": level }));
        let fair = policy("fair");
        assert!(check_password_policy(&fair, "Abcdefg1").is_ok());
        assert!(
            check_password_policy(&fair, "abcdefg1!").is_err(),
            "no upper-case"
        );
        let good = policy("good");
        assert!(check_password_policy(&good, "abcdefg1!").is_ok());
        assert!(
            check_password_policy(&good, "abcdefgh1").is_err(),
            "two kinds only"
        );
        let excellent = policy("excellent");
        assert!(check_password_policy(&excellent, "abcdefgh1!").is_ok());
        assert!(
            check_password_policy(&excellent, "abcdefff1!").is_err(),
            "a run of three"
        );
        assert!(
            check_password_policy(&excellent, "abcd1!").is_err(),
            "too short"
        );
        assert!(check_password_policy(&policy("low"), "abcdef").is_ok());
    }
}
