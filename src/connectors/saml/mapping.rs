//! A verified assertion to an [`Identity`]: the upstream subject is the
//! `user_id_attribute`'s value when the connection names one, else the
//! NameID (whatever its format: email, persistent, transient, unspecified);
//! the profile comes from attributes, found by the names Auth0's `fieldsMap`
//! gives, else by the names the IdP vendors use, kept as data in
//! `connectors/saml/*.toml` (Entra ID, AD FS, Okta, Google Workspace, LDAP
//! directories) and tried in that order.
//!
//! An enterprise IdP is trusted to say who the person is in its own
//! directory, not that an address is theirs: the email is verified only when
//! a mapped attribute (`fieldsMap.email_verified`) says so, so that linking
//! by email (`account_linking`) never rests on an address nobody vouched for.
//!
//! Everything here is pure: no I/O, no clock.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::validate::Verified;
use crate::connectors::{Identity, UpstreamError};
use crate::model::connection::{SamlAttributeNames, SamlOptions};
use crate::model::user::normalize_email;

/// The NameID format whose value is an email address (SAML core §8.3.2).
pub const EMAIL_NAME_ID_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
/// A NameID that changes at every login (SAML core §8.3.8).
pub const TRANSIENT_NAME_ID_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// The attribute presets, in the order their names are tried.
const PRESET_FILES: &[(&str, &str)] = &[
    (
        "entra-id",
        include_str!("../../../connectors/saml/entra-id.toml"),
    ),
    ("adfs", include_str!("../../../connectors/saml/adfs.toml")),
    ("okta", include_str!("../../../connectors/saml/okta.toml")),
    (
        "google-workspace",
        include_str!("../../../connectors/saml/google-workspace.toml"),
    ),
    ("ldap", include_str!("../../../connectors/saml/ldap.toml")),
];

/// The identity fields an attribute can fill (`fieldsMap`'s keys, as Auth0
/// names the profile's fields); `user_id` is the subject.
const FIELDS: [&str; 9] = [
    "user_id",
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "groups",
];

/// One vendor's attribute names.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// The file's name without `.toml`.
    pub name: &'static str,
    pub display_name: String,
    /// Identity field → the attribute names that fill it, in order.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// The presets, parsed once; a file that does not parse is left out and
/// logged (a test parses them all, so a released build has none).
static PRESETS: LazyLock<Vec<Preset>> = LazyLock::new(|| {
    PRESET_FILES
        .iter()
        .filter_map(|(name, text)| match parse_preset(name, text) {
            Ok(preset) => Some(preset),
            Err(reason) => {
                tracing::error!(preset = name, %reason, "a SAML attribute preset is invalid");
                None
            }
        })
        .collect()
});

/// The presets, in the order their names are tried.
pub fn presets() -> &'static [Preset] {
    &PRESETS
}

fn names_of(names: &SamlAttributeNames) -> Vec<String> {
    match names {
        SamlAttributeNames::One(name) => vec![name.clone()],
        SamlAttributeNames::Any(names) => names.clone(),
    }
}

fn parse_preset(name: &'static str, text: &str) -> Result<Preset, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PresetFile {
        display_name: String,
        attributes: BTreeMap<String, SamlAttributeNames>,
    }
    let file: PresetFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut attributes = BTreeMap::new();
    for (field, names) in &file.attributes {
        if !FIELDS.contains(&field.as_str()) || field == "user_id" {
            return Err(format!("attributes.{field}: not an identity field"));
        }
        let names = names_of(names);
        if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
            return Err(format!("attributes.{field}: names must not be empty"));
        }
        attributes.insert(field.clone(), names);
    }
    Ok(Preset {
        name,
        display_name: file.display_name,
        attributes,
    })
}

/// How one connection reads attributes: its `fieldsMap` over the presets.
struct Mapping<'a> {
    fields_map: Option<&'a BTreeMap<String, SamlAttributeNames>>,
    attributes: &'a BTreeMap<String, Vec<String>>,
}

impl Mapping<'_> {
    /// The attribute names for `field`: the `fieldsMap` entry replaces the
    /// presets' names, as Auth0's does.
    fn names(&self, field: &str) -> Vec<String> {
        if let Some(names) = self.fields_map.and_then(|map| map.get(field)) {
            return names_of(names);
        }
        presets()
            .iter()
            .filter_map(|preset| preset.attributes.get(field))
            .flatten()
            .cloned()
            .collect()
    }

    /// The values of the first of `names` that the assertion has, blank
    /// values left out.
    fn values(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter_map(|name| self.attributes.get(name))
            .map(|values| {
                values
                    .iter()
                    .filter(|v| !v.trim().is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .find(|values| !values.is_empty())
            .unwrap_or_default()
    }

    fn first(&self, field: &str) -> Option<String> {
        self.values(&self.names(field)).into_iter().next()
    }
}

/// An attribute's values as the identity's `raw` keeps them: one value as
/// a string, several as an array (the shape of Auth0's SAML profiles).
fn raw_value(values: &[String]) -> Value {
    match values {
        [one] => Value::String(one.clone()),
        many => Value::Array(many.iter().cloned().map(Value::String).collect()),
    }
}

fn asserts_true(value: &str) -> bool {
    value.eq_ignore_ascii_case("true") || value == "1"
}

/// The identity `verified` (an assertion of the connection `connection_id`)
/// describes, mapped by the connection's `options`.
pub fn identity_from_assertion(
    connection_id: &str,
    options: &SamlOptions,
    verified: &Verified,
) -> Result<Identity, UpstreamError> {
    let mapping = Mapping {
        fields_map: options.fields_map.as_ref(),
        attributes: &verified.attributes,
    };
    let subject = match options
        .user_id_attribute
        .as_deref()
        .filter(|name| !name.trim().is_empty())
    {
        Some(name) => mapping
            .values(&[name.to_owned()])
            .into_iter()
            .next()
            .ok_or(UpstreamError::MissingClaim(
                "user id (the attribute options.user_id_attribute names)",
            ))?,
        None => match mapping.fields_map.and_then(|map| map.get("user_id")) {
            // Mapped: the attribute or nothing (falling back to the NameID
            // would give one person two subjects).
            Some(names) => mapping.values(&names_of(names)).into_iter().next().ok_or(
                UpstreamError::MissingClaim(
                    "user id (the attribute options.fieldsMap.user_id names)",
                ),
            )?,
            // A transient NameID changes at every login: as the subject it
            // would make a new user each time. The asserted email stands in.
            None if verified.name_id_format.as_deref() == Some(TRANSIENT_NAME_ID_FORMAT) => mapping
                .first("email")
                .and_then(|email| normalize_email(&email).ok())
                .ok_or_else(|| {
                    UpstreamError::Misconfigured(
                        "the IdP sends a transient NameID and no email: set \
                             options.user_id_attribute to the attribute that identifies the user"
                            .into(),
                    )
                })?,
            None => Some(verified.name_id.clone())
                .filter(|id| !id.trim().is_empty())
                .ok_or(UpstreamError::MissingClaim("NameID"))?,
        },
    };
    let name_id_email = || {
        (verified.name_id_format.as_deref() == Some(EMAIL_NAME_ID_FORMAT))
            .then(|| normalize_email(&verified.name_id).ok())
            .flatten()
    };
    let email = mapping
        .first("email")
        .and_then(|email| normalize_email(&email).ok())
        .or_else(name_id_email);
    let email_verified = email.is_some()
        && mapping
            .first("email_verified")
            .is_some_and(|v| asserts_true(&v));
    let mut raw: Map<String, Value> = verified
        .attributes
        .iter()
        .map(|(name, values)| (name.clone(), raw_value(values)))
        .collect();
    // `fieldsMap` entries for fields of Switchyard's own profile's choosing
    // (`department`, …) land in `raw` under that name, as Auth0 adds them
    // to the profile.
    for (field, names) in mapping.fields_map.into_iter().flatten() {
        if FIELDS.contains(&field.as_str()) || raw.contains_key(field) {
            continue;
        }
        let values = mapping.values(&names_of(names));
        if !values.is_empty() {
            raw.insert(field.clone(), raw_value(&values));
        }
    }
    // As Auth0's SAML profiles have them, and what a LogoutRequest names:
    // always the assertion's own, never an attribute of the same name.
    let mut name_id = Map::new();
    name_id.insert("value".into(), Value::String(verified.name_id.clone()));
    for (key, value) in [
        ("Format", &verified.name_id_format),
        ("NameQualifier", &verified.name_qualifier),
        ("SPNameQualifier", &verified.sp_name_qualifier),
    ] {
        if let Some(value) = value {
            name_id.insert(key.into(), Value::String(value.clone()));
        }
    }
    raw.insert("nameIdAttributes".into(), Value::Object(name_id));
    match &verified.session_index {
        Some(index) => raw.insert("sessionIndex".into(), Value::String(index.clone())),
        None => raw.remove("sessionIndex"),
    };
    Ok(Identity {
        connection_id: connection_id.to_owned(),
        subject,
        email,
        email_verified,
        name: mapping.first("name"),
        given_name: mapping.first("given_name"),
        family_name: mapping.first("family_name"),
        nickname: mapping.first("nickname"),
        picture: mapping.first("picture"),
        groups: mapping.values(&mapping.names("groups")),
        raw,
        // A SAML assertion names no tenant that routes a shared connection.
        tenant: crate::connectors::UpstreamTenant::default(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ENTRA: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/";

    fn verified(format: Option<&str>, name_id: &str, attributes: &[(&str, &[&str])]) -> Verified {
        Verified {
            assertion_id: "_a1".into(),
            expires_at_ms: 0,
            name_id: name_id.into(),
            name_id_format: format.map(str::to_owned),
            name_qualifier: None,
            sp_name_qualifier: None,
            session_index: None,
            attributes: attributes
                .iter()
                .map(|(name, values)| {
                    (
                        (*name).to_owned(),
                        values.iter().map(|v| (*v).to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }

    fn options(value: Value) -> SamlOptions {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn every_preset_parses_in_order() {
        let names: Vec<&str> = presets().iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            ["entra-id", "adfs", "okta", "google-workspace", "ldap"]
        );
        for (name, text) in PRESET_FILES {
            let preset = parse_preset(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(preset.attributes.contains_key("email"), "{name}");
        }
        assert!(
            parse_preset("x", "display_name = \"X\"\n[attributes]\nuser_id = \"uid\"").is_err()
        );
        assert!(parse_preset("x", "display_name = \"X\"\n[attributes]\nmail = \"m\"").is_err());
        assert!(parse_preset("x", "display_name = \"X\"\nother = 1\n[attributes]").is_err());
    }

    #[test]
    fn entra_id_claims_map_to_the_profile() {
        let upn = format!("{ENTRA}name");
        let email = format!("{ENTRA}emailaddress");
        let given = format!("{ENTRA}givenname");
        let surname = format!("{ENTRA}surname");
        let assertion = verified(
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
            "u8yK3-persistent",
            &[
                (&upn, &["ana@metahexa.onmicrosoft.com"]),
                (&email, &["Ana@MetaHexa.example"]),
                (&given, &["Ana"]),
                (&surname, &["Lima"]),
                (
                    "http://schemas.microsoft.com/identity/claims/displayname",
                    &["Ana Lima"],
                ),
                (
                    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
                    &["g-1", "g-2"],
                ),
            ],
        );
        let identity =
            identity_from_assertion("con_1", &SamlOptions::default(), &assertion).unwrap();
        assert_eq!(identity.subject, "u8yK3-persistent");
        assert_eq!(identity.email.as_deref(), Some("ana@metahexa.example"));
        assert!(!identity.email_verified, "an IdP's email is not verified");
        assert_eq!(identity.name.as_deref(), Some("Ana Lima"));
        assert_eq!(identity.given_name.as_deref(), Some("Ana"));
        assert_eq!(identity.family_name.as_deref(), Some("Lima"));
        assert_eq!(
            identity.nickname.as_deref(),
            Some("ana@metahexa.onmicrosoft.com")
        );
        assert_eq!(identity.groups, ["g-1", "g-2"]);
        assert_eq!(identity.raw[&given], "Ana");
        assert_eq!(
            identity.raw["http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"],
            json!(["g-1", "g-2"])
        );
        assert_eq!(
            identity.raw["nameIdAttributes"],
            json!({"value": "u8yK3-persistent",
                   "Format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"})
        );
    }

    #[test]
    fn adfs_okta_and_google_names_are_known() {
        let adfs = verified(
            None,
            "METAHEXA\\ana",
            &[
                (
                    "http://schemas.xmlsoap.org/claims/CommonName",
                    &["Ana Lima"],
                ),
                ("http://schemas.xmlsoap.org/claims/Group", &["Staff"]),
                (
                    "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname",
                    &["METAHEXA\\ana"],
                ),
            ],
        );
        let identity = identity_from_assertion("con_1", &SamlOptions::default(), &adfs).unwrap();
        assert_eq!(identity.name.as_deref(), Some("Ana Lima"));
        assert_eq!(identity.groups, ["Staff"]);
        assert_eq!(identity.nickname.as_deref(), Some("METAHEXA\\ana"));
        assert_eq!(identity.email, None, "an unspecified NameID is no email");

        let okta = verified(
            Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
            "00u1abcd",
            &[
                ("email", &["ana@metahexa.example"]),
                ("firstName", &["Ana"]),
                ("lastName", &["Lima"]),
                ("groups", &["Everyone", "Admins"]),
            ],
        );
        let identity = identity_from_assertion("con_1", &SamlOptions::default(), &okta).unwrap();
        assert_eq!(identity.subject, "00u1abcd");
        assert_eq!(identity.email.as_deref(), Some("ana@metahexa.example"));
        assert_eq!(identity.given_name.as_deref(), Some("Ana"));
        assert_eq!(identity.groups, ["Everyone", "Admins"]);

        // Google Workspace: the email is the NameID.
        let google = verified(Some(EMAIL_NAME_ID_FORMAT), "Ana@MetaHexa.example", &[]);
        let identity = identity_from_assertion("con_1", &SamlOptions::default(), &google).unwrap();
        assert_eq!(identity.subject, "Ana@MetaHexa.example");
        assert_eq!(identity.email.as_deref(), Some("ana@metahexa.example"));
        assert!(!identity.email_verified);
    }

    #[test]
    fn every_name_id_format_is_a_subject() {
        for format in [
            Some(EMAIL_NAME_ID_FORMAT),
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
            Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
            None,
        ] {
            let assertion = verified(format, "subject-1", &[]);
            let identity =
                identity_from_assertion("con_1", &SamlOptions::default(), &assertion).unwrap();
            assert_eq!(identity.subject, "subject-1", "{format:?}");
            assert_eq!(identity.email, None, "not an address: {format:?}");
        }
        let blank = verified(None, " ", &[]);
        assert!(matches!(
            identity_from_assertion("con_1", &SamlOptions::default(), &blank),
            Err(UpstreamError::MissingClaim("NameID"))
        ));
    }

    #[test]
    fn user_id_attribute_wins_over_the_name_id() {
        let assertion = verified(
            Some(EMAIL_NAME_ID_FORMAT),
            "ana@metahexa.example",
            &[("employeeNumber", &["E-1001"])],
        );
        let with = options(json!({"user_id_attribute": "employeeNumber"}));
        let identity = identity_from_assertion("con_1", &with, &assertion).unwrap();
        assert_eq!(identity.subject, "E-1001");
        assert_eq!(identity.email.as_deref(), Some("ana@metahexa.example"));
        // Named but missing: refused, never the NameID instead (another
        // person's subject could collide with it).
        let missing = options(json!({"user_id_attribute": "uid"}));
        assert!(matches!(
            identity_from_assertion("con_1", &missing, &assertion),
            Err(UpstreamError::MissingClaim(_))
        ));
        // Auth0's fieldsMap.user_id too.
        let mapped = options(json!({"fieldsMap": {"user_id": ["uid", "employeeNumber"]}}));
        assert_eq!(
            identity_from_assertion("con_1", &mapped, &assertion)
                .unwrap()
                .subject,
            "E-1001"
        );
        let mapped_missing = options(json!({"fieldsMap": {"user_id": "uid"}}));
        assert!(matches!(
            identity_from_assertion("con_1", &mapped_missing, &assertion),
            Err(UpstreamError::MissingClaim(_))
        ));
    }

    #[test]
    fn a_transient_name_id_is_no_subject() {
        let assertion = verified(
            Some(TRANSIENT_NAME_ID_FORMAT),
            "_a1b2c3",
            &[("employeeNumber", &["E-1001"])],
        );
        assert!(matches!(
            identity_from_assertion("con_1", &options(json!({})), &assertion),
            Err(UpstreamError::Misconfigured(_))
        ));
        // The asserted email is stable where the NameID is not.
        let with_email = verified(
            Some(TRANSIENT_NAME_ID_FORMAT),
            "_a1b2c3",
            &[("email", &["Ana@metahexa.example"])],
        );
        let identity = identity_from_assertion("con_1", &options(json!({})), &with_email).unwrap();
        assert_eq!(identity.subject, "ana@metahexa.example");
        let with = options(json!({"user_id_attribute": "employeeNumber"}));
        let identity = identity_from_assertion("con_1", &with, &assertion).unwrap();
        assert_eq!(identity.subject, "E-1001");
    }

    #[test]
    fn fields_map_overrides_the_presets() {
        let assertion = verified(
            Some(EMAIL_NAME_ID_FORMAT),
            "ana@metahexa.example",
            &[
                ("email", &["preset@metahexa.example"]),
                ("workMail", &["Work@MetaHexa.example"]),
                ("verified", &["true"]),
                ("fullName", &["", "Ana Lima"]),
                ("roles", &["admin"]),
                ("dept", &["R&D"]),
            ],
        );
        let mapped = options(json!({"fieldsMap": {
            "email": "workMail",
            "email_verified": "verified",
            "name": ["displayName", "fullName"],
            "groups": "roles",
            "department": "dept",
        }}));
        let identity = identity_from_assertion("con_1", &mapped, &assertion).unwrap();
        assert_eq!(identity.email.as_deref(), Some("work@metahexa.example"));
        assert!(identity.email_verified, "a mapped attribute says so");
        assert_eq!(identity.name.as_deref(), Some("Ana Lima"), "blank skipped");
        assert_eq!(identity.groups, ["admin"]);
        assert_eq!(identity.raw["department"], "R&D");
        assert_eq!(identity.raw["dept"], "R&D");

        // A fieldsMap entry replaces the presets: its attribute missing, no
        // preset name is used instead (the NameID still gives the email).
        let replaced = options(json!({"fieldsMap": {"email": "mail2"}}));
        let identity = identity_from_assertion("con_1", &replaced, &assertion).unwrap();
        assert_eq!(identity.email.as_deref(), Some("ana@metahexa.example"));
        // A verification claim without an email verifies nothing; an
        // invalid address is dropped.
        let invalid = verified(
            None,
            "s",
            &[("email", &["not an address"]), ("verified", &["true"])],
        );
        let with_flag = options(json!({"fieldsMap": {"email_verified": "verified"}}));
        let identity = identity_from_assertion("con_1", &with_flag, &invalid).unwrap();
        assert_eq!(identity.email, None);
        assert!(!identity.email_verified);
    }
}
