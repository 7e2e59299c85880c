use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;
use crate::model::connection::Strategy;

fn connectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors")
}

/// The stems of the files with `extension` in `dir`, sorted.
fn stems(dir: &Path, extension: &str) -> Vec<String> {
    let mut stems: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .map(|path| path.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    stems.sort();
    stems
}

fn options(strategy: Strategy, options: Value) -> ConnectionOptions {
    ConnectionOptions::parse(strategy, options.as_object().cloned().unwrap()).unwrap()
}

fn oauth2_options(extra: Value) -> OAuth2Options {
    let mut options = json!({
        "authorizationURL": "https://idp.example.com/authorize",
        "tokenURL": "https://idp.example.com/token",
        "client_id": "c", "client_secret": "s",
    });
    for (key, value) in extra.as_object().unwrap() {
        options[key] = value.clone();
    }
    // Decoded only: what the Management API refuses at write time (tested
    // in the model) may still be in the store, written before the check.
    match ConnectionOptions::decode(Strategy::OAuth2, options.as_object().cloned().unwrap()) {
        Ok(ConnectionOptions::OAuth2(options)) => options,
        other => panic!("{other:?}"),
    }
}

fn oauth2_refusal(extra: Value) -> (String, String) {
    let refusal = Preset::from_oauth2_options(&oauth2_options(extra)).unwrap_err();
    (refusal.field, refusal.reason)
}

/// An identity with only a subject, for a test to fill in.
fn identity(subject: &str, profile: &Value) -> Identity {
    Identity {
        connection_id: "con_test".into(),
        subject: subject.into(),
        email: None,
        email_verified: false,
        name: None,
        given_name: None,
        family_name: None,
        nickname: None,
        picture: None,
        groups: Vec::new(),
        raw: profile.as_object().cloned().unwrap(),
        tenant: crate::connectors::UpstreamTenant::default(),
    }
}

/// What a sample file says the profile maps to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    subject: String,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    nickname: Option<String>,
    picture: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    source: String,
    profile: Value,
    emails: Option<Value>,
    identity: Expected,
}

#[test]
fn every_preset_file_is_embedded() {
    let files = stems(&connectors_dir(), "toml");
    assert!(files.len() >= 3, "{files:?}");
    assert_eq!(names().collect::<Vec<_>>(), files);
    for name in ["google-oauth2", "github", "windowslive"] {
        assert!(files.iter().any(|file| file == name), "{name}");
    }
}

#[test]
fn every_preset_parses_and_maps_its_documented_samples() {
    let samples_dir = connectors_dir().join("samples");
    assert_eq!(
        stems(&samples_dir, "json"),
        names().collect::<Vec<_>>(),
        "one samples file per preset, named as it"
    );
    for name in names() {
        let preset = preset(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(preset.name, name);
        let text = fs::read_to_string(samples_dir.join(format!("{name}.json"))).unwrap();
        let samples: Vec<Sample> = serde_json::from_str(&text).unwrap();
        assert!(!samples.is_empty(), "{name}");
        for sample in samples {
            assert!(
                sample.source.starts_with("https://"),
                "{name}: {}",
                sample.source
            );
            let mut actual = identity_from_profile(preset, "con_test", &sample.profile)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Some(emails) = &sample.emails {
                assert!(
                    preset.emails_endpoint.is_some(),
                    "{name}: emails without an endpoint"
                );
                apply_emails(&mut actual, emails);
            }
            let want = sample.identity;
            let expected = Identity {
                email: want.email,
                email_verified: want.email_verified,
                name: want.name,
                given_name: want.given_name,
                family_name: want.family_name,
                nickname: want.nickname,
                picture: want.picture,
                groups: want.groups,
                ..identity(&want.subject, &sample.profile)
            };
            assert_eq!(actual, expected, "{name}: {}", sample.source);
        }
    }
}

#[test]
fn the_three_social_presets_say_what_their_providers_document() {
    let google = preset("google-oauth2").unwrap();
    assert!(google.is_oidc());
    assert_eq!(
        google.userinfo_endpoint.as_str(),
        "https://openidconnect.googleapis.com/v1/userinfo"
    );
    let github = preset("github").unwrap();
    assert!(!github.is_oidc());
    assert_eq!(
        github.emails_endpoint.as_ref().map(Url::as_str),
        Some("https://api.github.com/user/emails")
    );
    assert!(
        github.scopes.iter().any(|s| s == "user:email"),
        "the emails API needs it"
    );
    assert_eq!(
        github.profile.email_verified, None,
        "GitHub's profile never says"
    );
    let live = preset("windowslive").unwrap();
    assert_eq!(live.display_name.as_deref(), Some("Microsoft"));
    assert!(
        live.token_endpoint
            .as_str()
            .ends_with("/consumers/oauth2/v2.0/token")
    );
    assert_eq!(
        live.userinfo_endpoint.as_str(),
        "https://graph.microsoft.com/v1.0/me"
    );
    assert_eq!(
        live.profile.email_verified, None,
        "Microsoft's addresses are not verified"
    );
}

#[test]
fn presets_by_connection() {
    let google = Preset::for_options(&ConnectionOptions::empty(Strategy::Google)).unwrap();
    assert!(matches!(google, Cow::Borrowed(p) if p.name == "google-oauth2"));
    let oauth2 = Preset::for_options(&ConnectionOptions::OAuth2(oauth2_options(
        json!({"userInfoURL": "https://idp.example.com/me"}),
    )))
    .unwrap();
    assert_eq!(oauth2.name, "oauth2");
    assert_eq!(
        Preset::for_options(&ConnectionOptions::empty(Strategy::Database)),
        Err(PresetError::Unknown("auth0".into()))
    );
    assert_eq!(
        Preset::for_options(&ConnectionOptions::OAuth2(oauth2_options(json!({})))),
        Err(PresetError::Options(ValidationError::new(
            "options.userInfoURL",
            "is required"
        )))
    );
    assert_eq!(preset("gitlab"), Err(PresetError::Unknown("gitlab".into())));
}

#[test]
fn the_subject_is_required_and_integers_become_strings() {
    let github = preset("github").unwrap();
    let mapped = |profile: Value| identity_from_profile(github, "con_gh", &profile);
    assert_eq!(mapped(json!({"id": 583231})).unwrap().subject, "583231");
    assert_eq!(mapped(json!({"id": "MDQ6"})).unwrap().subject, "MDQ6");
    let no_subject = PresetError::MissingSubject {
        preset: "github".into(),
        field: "id".into(),
    };
    let missing = Err(no_subject.clone());
    for profile in [
        json!({"login": "octocat"}),
        json!({"id": null}),
        json!({"id": ""}),
        json!({"id": "  "}),
        json!({"id": 1.5}),
        json!({"id": true}),
        json!({"id": {"value": 1}}),
    ] {
        assert_eq!(mapped(profile.clone()), missing, "{profile}");
    }
    assert_eq!(
        mapped(json!([{"id": 1}])),
        Err(PresetError::ProfileNotObject {
            preset: "github".into()
        })
    );
    let message = no_subject.to_string();
    assert!(
        message.contains("github") && message.contains("id"),
        "{message}"
    );
}

#[test]
fn emails_are_normalized_and_an_invalid_one_is_dropped() {
    let google = preset("google-oauth2").unwrap();
    let mapped = |profile: Value| identity_from_profile(google, "con_g", &profile).unwrap();
    let upper = mapped(json!({"sub": "1", "email": " Ann@Example.COM ", "email_verified": true}));
    assert_eq!(upper.email.as_deref(), Some("ann@example.com"));
    assert!(upper.email_verified);
    for bad in [
        json!("not an address"),
        json!("a@localhost"),
        json!(42),
        json!(""),
    ] {
        let dropped = mapped(json!({"sub": "1", "email": bad, "email_verified": true}));
        assert_eq!(
            (dropped.email, dropped.email_verified),
            (None, false),
            "{bad}"
        );
    }
    for unsure in [
        json!(false),
        json!("yes"),
        json!(1),
        json!("false"),
        json!(null),
    ] {
        let unverified =
            mapped(json!({"sub": "1", "email": "a@example.com", "email_verified": unsure}));
        assert!(!unverified.email_verified, "{unsure}");
    }
    assert!(
        mapped(json!({"sub": "1", "email": "a@example.com", "email_verified": "TRUE"}))
            .email_verified
    );
}

#[test]
fn the_first_present_field_of_a_list_wins() {
    let live = preset("windowslive").unwrap();
    let profile = json!({"id": "8a7c3bde12f84a35", "mail": null,
        "userPrincipalName": "Someone@Outlook.com", "displayName": " "});
    let mapped = identity_from_profile(live, "con_ms", &profile).unwrap();
    assert_eq!(mapped.email.as_deref(), Some("someone@outlook.com"));
    assert!(!mapped.email_verified);
    assert_eq!(mapped.name, None, "a blank name is no name");
}

#[test]
fn github_takes_the_primary_address_only_when_verified() {
    let github = preset("github").unwrap();
    let profile = json!({"id": 1, "login": "octocat", "email": "shown@example.com"});
    let from_profile = identity_from_profile(github, "con_gh", &profile).unwrap();
    assert_eq!(from_profile.email.as_deref(), Some("shown@example.com"));
    assert!(
        !from_profile.email_verified,
        "the public address is not known to be verified"
    );

    let with = |emails: Value| {
        let mut identity = from_profile.clone();
        apply_emails(&mut identity, &emails);
        identity
    };
    let verified = with(json!([
        {"email": "Other@Example.com", "primary": false, "verified": true},
        {"email": "Primary@Example.com", "primary": true, "verified": true, "visibility": "private"},
    ]));
    assert_eq!(verified.email.as_deref(), Some("primary@example.com"));
    assert!(verified.email_verified);

    for unusable in [
        json!([{"email": "primary@example.com", "primary": true, "verified": false},
               {"email": "other@example.com", "primary": false, "verified": true}]),
        json!([{"email": "other@example.com", "primary": false, "verified": true}]),
        json!([{"email": "not an address", "primary": true, "verified": true}]),
        json!([{"primary": true, "verified": true}]),
        json!([{"email": "primary@example.com", "primary": "true", "verified": "true"}]),
        json!([]),
        json!({"message": "Not Found"}),
    ] {
        assert_eq!(primary_verified_email(&unusable), None, "{unusable}");
        assert_eq!(with(unusable), from_profile);
    }
}

#[test]
fn json_pointers_reach_nested_fields_and_groups_map() {
    let mut preset = preset("github").unwrap().clone();
    preset.profile = serde_json::from_value(json!({
        "subject": "/data/id",
        "email": ["/data/emails/0", "email"],
        "groups": "/data/teams",
        "nickname": "/data/handle",
    }))
    .unwrap();
    let profile = json!({"data": {"id": 7, "emails": ["x@example.com"], "teams": ["a", 3, "b"]}});
    let mapped = identity_from_profile(&preset, "con", &profile).unwrap();
    assert_eq!(mapped.subject, "7");
    assert_eq!(mapped.email.as_deref(), Some("x@example.com"));
    assert_eq!(mapped.groups, ["a", "b"]);
    assert_eq!(mapped.nickname, None);
    let one_group = json!({"data": {"id": 7, "teams": "admins"}});
    let mapped = identity_from_profile(&preset, "con", &one_group).unwrap();
    assert_eq!(mapped.groups, ["admins"]);
}

#[test]
fn scopes_add_auth0_flags_and_the_given_scope_once() {
    let github = preset("github").unwrap();
    assert_eq!(
        github.scopes(&ConnectionOptions::empty(Strategy::Github)),
        ["read:user", "user:email"]
    );
    assert_eq!(
        github.scopes(&options(
            Strategy::Github,
            json!({"read_org": true, "email": true, "read_user": false, "scope": "gist user:email"})
        )),
        ["read:user", "user:email", "read:org", "gist"]
    );
    let live = preset("windowslive").unwrap();
    assert_eq!(
        live.scopes(&options(
            Strategy::WindowsLive,
            json!({"offline_access": true, "signin": true, "scope": ["Calendars.Read"]})
        )),
        [
            "openid",
            "profile",
            "email",
            "User.Read",
            "offline_access",
            "Calendars.Read"
        ]
    );
}

#[test]
fn an_oauth2_connection_maps_the_standard_claims_by_default() {
    let preset = Preset::from_oauth2_options(&oauth2_options(json!({
        "userInfoURL": "https://idp.example.com/userinfo", "scope": "openid profile"
    })))
    .unwrap();
    assert_eq!(
        preset.userinfo_endpoint.as_str(),
        "https://idp.example.com/userinfo"
    );
    assert_eq!(
        preset.token_endpoint.as_str(),
        "https://idp.example.com/token"
    );
    assert_eq!(preset.profile, ProfileMap::standard_claims());
    assert!(!preset.is_oidc());
    assert_eq!(
        preset.scopes(&ConnectionOptions::OAuth2(oauth2_options(
            json!({"scope": "openid profile"})
        ))),
        ["openid", "profile"]
    );
    // OpenID Connect Core 1.0, 5.3.2, the UserInfo response example:
    // https://openid.net/specs/openid-connect-core-1_0.html#UserInfoResponse
    let profile = json!({
        "sub": "248289761001",
        "name": "Jane Doe",
        "given_name": "Jane",
        "family_name": "Doe",
        "preferred_username": "j.doe",
        "email": "janedoe@example.com",
        "picture": "http://example.com/janedoe/me.jpg"
    });
    let mapped = identity_from_profile(&preset, "con_o", &profile).unwrap();
    assert_eq!(
        mapped,
        Identity {
            connection_id: "con_o".into(),
            email: Some("janedoe@example.com".into()),
            name: Some("Jane Doe".into()),
            given_name: Some("Jane".into()),
            family_name: Some("Doe".into()),
            picture: Some("http://example.com/janedoe/me.jpg".into()),
            ..identity("248289761001", &profile)
        }
    );
}

#[test]
fn an_oauth2_connection_takes_its_own_profile_map() {
    let preset = Preset::from_oauth2_options(&oauth2_options(json!({
        "userInfoURL": "https://idp.example.com/api/me",
        "profile_map": {"subject": "user_id", "email": "mail", "nickname": "/account/handle"},
    })))
    .unwrap();
    let profile = json!({"user_id": 12, "mail": "m@example.com", "email_verified": true,
                         "account": {"handle": "em"}, "name": "Em"});
    let mapped = identity_from_profile(&preset, "con_o", &profile).unwrap();
    assert_eq!(mapped.subject, "12");
    assert_eq!(mapped.email.as_deref(), Some("m@example.com"));
    assert!(!mapped.email_verified, "the map names no email_verified");
    assert_eq!(mapped.nickname.as_deref(), Some("em"));
    assert_eq!(
        mapped.name, None,
        "a given map replaces the standard claims"
    );
}

#[test]
fn oauth2_options_that_make_no_preset_are_refused_by_name() {
    let refused = |field: &str, reason: &str| (field.to_owned(), reason.to_owned());
    let me = "https://idp.example.com/me";
    assert_eq!(
        oauth2_refusal(json!({})),
        refused("options.userInfoURL", "is required")
    );
    assert_eq!(
        oauth2_refusal(json!({"userInfoURL": "http://idp.example.com/me"})),
        refused("options.userInfoURL", "must be an https URL")
    );
    assert_eq!(
        oauth2_refusal(json!({"userInfoURL": 7})),
        refused("options.userInfoURL", "must be a string")
    );
    assert_eq!(
        oauth2_refusal(json!({"userInfoURL": me, "profile_map": "sub"})),
        refused("options.profile_map", "must be an object")
    );
    let (field, reason) =
        oauth2_refusal(json!({"userInfoURL": me, "profile_map": {"email": "mail"}}));
    assert_eq!(field, "options.profile_map");
    assert!(reason.contains("subject"), "{reason}");
    let (field, reason) =
        oauth2_refusal(json!({"userInfoURL": me, "profile_map": {"subject": "id", "mail": "x"}}));
    assert_eq!(field, "options.profile_map.mail");
    assert!(reason.contains("unknown field"), "{reason}");
    assert_eq!(
        oauth2_refusal(json!({"userInfoURL": me, "profile_map": {"subject": "id", "email": 3}})),
        refused(
            "options.profile_map.email",
            "must be a field name, a JSON pointer, or an array of them"
        )
    );
    for empty in [json!(""), json!([]), json!(["mail", ""])] {
        assert_eq!(
            oauth2_refusal(
                json!({"userInfoURL": me, "profile_map": {"subject": "id", "email": empty}})
            ),
            refused("options.profile_map.email", "must name a profile field")
        );
    }
    assert_eq!(
        oauth2_refusal(json!({"userInfoURL": me, "profile_map": {"subject": []}})),
        refused("options.profile_map.subject", "must name a profile field")
    );
}

/// The format a new provider's file follows is the whole story: a provider
/// Switchyard has no code for parses and maps.
#[test]
fn a_new_provider_is_a_file() {
    let text = r#"
        display_name = "GitLab"
        authorization_endpoint = "https://gitlab.com/oauth/authorize"
        token_endpoint = "https://gitlab.com/oauth/token"
        userinfo_endpoint = "https://gitlab.com/oauth/userinfo"
        discovery_url = "https://gitlab.com/.well-known/openid-configuration"
        scopes = ["openid", "email"]
        [profile]
        subject = "sub"
        email = "email"
        email_verified = "email_verified"
        nickname = "nickname"
        groups = "groups"
    "#;
    let preset = Preset::parse("gitlab", text).unwrap();
    let profile = json!({"sub": "42", "email": "g@example.com", "email_verified": true,
                         "nickname": "gee", "groups": ["team"]});
    let mapped = identity_from_profile(&preset, "con_gl", &profile).unwrap();
    assert_eq!(mapped.subject, "42");
    assert!(mapped.email_verified);
    assert_eq!(mapped.groups, ["team"]);
}

#[test]
fn a_bad_preset_file_says_what_is_wrong() {
    let base = r#"
        authorization_endpoint = "https://p.example.com/authorize"
        token_endpoint = "https://p.example.com/token"
        userinfo_endpoint = "https://p.example.com/me"
    "#;
    let with = |more: &str| Preset::parse("p", &format!("{base}{more}")).unwrap_err();
    assert!(
        with("[profile]\nsubject = \"id\"\nemial = \"email\"").contains("unknown field `emial`")
    );
    assert!(with("scope = [\"x\"]\n[profile]\nsubject = \"id\"").contains("unknown field `scope`"));
    assert!(with("").contains("missing field `profile`"));
    assert!(
        with("[profile]\nsubject = \"\"").contains("profile.subject: must name a profile field")
    );
    assert!(
        with("emails_endpoint = \"http://p.example.com/emails\"\n[profile]\nsubject = \"id\"")
            .contains("emails_endpoint: must be an https URL")
    );
    assert!(
        with("[headers]\n\"Bad Header\" = \"x\"\n[profile]\nsubject = \"id\"")
            .contains("'Bad Header' is not a header name")
    );
    let http = Preset::parse(
        "p",
        &base.replace("https://p.example.com/token", "http://p.example.com/token"),
    );
    assert!(http.is_err());
}
