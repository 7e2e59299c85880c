//! A profile mapping: which field of an upstream's profile (its userinfo
//! JSON) fills which field of a federated identity. The provider presets
//! (`connectors/*.toml`, read by `crate::connectors::presets`) carry one as
//! their `[profile]` table; an `oauth2` connection carries one as its
//! `profile_map` option, checked here when it is written.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// Which profile field fills which identity field. `subject` is required; a
/// field left out stays empty (`email_verified`: false).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub struct ProfileMap {
    pub subject: Field,
    #[serde(default)]
    pub email: Option<Field>,
    /// A boolean, or the string "true"; anything else is false.
    #[serde(default)]
    pub email_verified: Option<Field>,
    #[serde(default)]
    pub name: Option<Field>,
    #[serde(default)]
    pub given_name: Option<Field>,
    #[serde(default)]
    pub family_name: Option<Field>,
    #[serde(default)]
    pub nickname: Option<Field>,
    #[serde(default)]
    pub picture: Option<Field>,
    /// An array of strings, or one string.
    #[serde(default)]
    pub groups: Option<Field>,
}

/// Where a value is in a profile: a top-level field's name (`avatar_url`),
/// or a JSON pointer into nested objects (`/data/id`); or a list of them,
/// the first that is present and not null winning.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "must be a field name, a JSON pointer, or an array of them"
)]
pub enum Field {
    One(String),
    FirstOf(Vec<String>),
}

impl ProfileMap {
    /// OpenID Connect's standard claims (`sub`, `email`, …): an `oauth2`
    /// connection's mapping when its options give none.
    pub fn standard_claims() -> Self {
        let claim = |name: &str| Some(Field::One(name.to_owned()));
        ProfileMap {
            subject: Field::One("sub".to_owned()),
            email: claim("email"),
            email_verified: claim("email_verified"),
            name: claim("name"),
            given_name: claim("given_name"),
            family_name: claim("family_name"),
            nickname: claim("nickname"),
            picture: claim("picture"),
            groups: None,
        }
    }

    /// Every field names at least one place, none of them empty; a refusal
    /// is `(the map's key, why)`.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let fields = [
            ("email", &self.email),
            ("email_verified", &self.email_verified),
            ("name", &self.name),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("nickname", &self.nickname),
            ("picture", &self.picture),
            ("groups", &self.groups),
        ];
        let subject = ("subject", Some(&self.subject));
        for (key, field) in fields
            .into_iter()
            .map(|(key, field)| (key, field.as_ref()))
            .chain([subject])
        {
            if let Some(field) = field {
                let paths = field.paths();
                if paths.is_empty() || paths.iter().any(String::is_empty) {
                    return Err((key, "must name a profile field"));
                }
            }
        }
        Ok(())
    }
}

impl Field {
    fn paths(&self) -> &[String] {
        match self {
            Field::One(path) => std::slice::from_ref(path),
            Field::FirstOf(paths) => paths,
        }
    }

    /// The first value the profile has (not null) at one of the paths.
    pub fn find<'a>(&self, profile: &'a Value) -> Option<&'a Value> {
        self.paths()
            .iter()
            .filter_map(|path| {
                if path.starts_with('/') {
                    profile.pointer(path)
                } else {
                    profile.get(path)
                }
            })
            .find(|value| !value.is_null())
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.paths().join(" or "))
    }
}
