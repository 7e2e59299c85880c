//! Options of a password database connection (`strategy: auth0`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::options::field;
use crate::model::client::wire_enum;

wire_enum!(
    /// Auth0's password policy levels: a minimum length and, from `fair`
    /// up, a mix of kinds of characters (see `connectors::database`).
    PasswordPolicy {
        None = "none",
        Low = "low",
        Fair = "fair",
        Good = "good",
        Excellent = "excellent",
    }
);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatabaseOptions {
    #[serde(
        rename = "passwordPolicy",
        default,
        deserialize_with = "field::keyword",
        skip_serializing_if = "Option::is_none"
    )]
    pub password_policy: Option<PasswordPolicy>,
    /// Overrides the policy's minimum length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_complexity_options: Option<PasswordComplexityOptions>,
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub brute_force_protection: Option<bool>,
    /// `true`: nobody creates an account here outside an organization that
    /// enables sign-up.
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_signup: Option<bool>,
    #[serde(
        default,
        deserialize_with = "field::flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub requires_username: Option<bool>,
    /// Other options, kept as given.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(expecting = "an object")]
pub struct PasswordComplexityOptions {
    /// 1 to 128.
    #[serde(
        default,
        deserialize_with = "min_length",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_length: Option<u32>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// Given, it must be a number from 1 to 128 (`null` included: Auth0 has no
/// "unset" here).
fn min_length<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Value::deserialize(deserializer)?
        .as_u64()
        .filter(|n| (1..=128).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("must be an integer from 1 to 128"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::options::tests::{map, refusal, refused};
    use super::super::{ConnectionOptions, Strategy};
    use super::*;

    fn parse(options: Value) -> DatabaseOptions {
        match ConnectionOptions::parse(Strategy::Database, map(options)) {
            Ok(ConnectionOptions::Database(options)) => options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn accepted_shape() {
        let options = parse(json!({
            "passwordPolicy": "excellent",
            "password_complexity_options": {"min_length": 12, "future": 1},
            "brute_force_protection": true,
            "disable_signup": false,
            "requires_username": null,
            "enabledDatabaseCustomization": false,
        }));
        assert_eq!(options.password_policy, Some(PasswordPolicy::Excellent));
        let complexity = options.password_complexity_options.clone().unwrap();
        assert_eq!(complexity.min_length, Some(12));
        assert_eq!(complexity.extra["future"], 1);
        assert_eq!(options.brute_force_protection, Some(true));
        assert_eq!(options.disable_signup, Some(false));
        assert_eq!(options.requires_username, None);
        assert_eq!(options.extra["enabledDatabaseCustomization"], false);
        assert_eq!(parse(json!({})), DatabaseOptions::default());
        for level in ["none", "low", "fair", "good", "excellent"] {
            assert_eq!(
                parse(json!({ "passwordPolicy": level }))
                    .password_policy
                    .map(PasswordPolicy::as_str),
                Some(level)
            );
        }
        assert_eq!(
            parse(json!({"password_complexity_options": null})).password_complexity_options,
            None
        );
        assert_eq!(
            parse(json!({"password_complexity_options": {}})).password_complexity_options,
            Some(PasswordComplexityOptions::default())
        );
    }

    #[test]
    fn refusals() {
        let db = |options| refusal(Strategy::Database, options);
        assert_eq!(
            db(json!({"passwordPolicy": "weak"})),
            refused(
                "options.passwordPolicy",
                "must be one of: none, low, fair, good, excellent"
            )
        );
        assert_eq!(
            db(json!({"passwordPolicy": 3})),
            refused("options.passwordPolicy", "must be a string")
        );
        assert_eq!(
            db(json!({"passwordPolicy": " "})),
            refused("options.passwordPolicy", "must not be empty")
        );
        for bad in [json!(0), json!(129), json!(8.5), json!("8"), json!(null)] {
            assert_eq!(
                db(json!({"password_complexity_options": {"min_length": bad}})),
                refused(
                    "options.password_complexity_options.min_length",
                    "must be an integer from 1 to 128"
                )
            );
        }
        assert_eq!(
            db(json!({"password_complexity_options": "long"})),
            refused("options.password_complexity_options", "must be an object")
        );
        for flag in [
            "brute_force_protection",
            "disable_signup",
            "requires_username",
        ] {
            assert_eq!(
                db(json!({ flag: "yes" })),
                refused(&format!("options.{flag}"), "must be a boolean")
            );
        }
    }
}
