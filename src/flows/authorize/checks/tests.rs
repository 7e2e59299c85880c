//! One test per check: what it accepts and each refusal.

use super::*;
use crate::flows::issue::IdTokenHint;
use crate::model::client::{AppType, SigningAlg, TokenEndpointAuthMethod};
use crate::model::resource_server::{Scope, TokenDialect};

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn client(app_type: AppType) -> Client {
    Client {
        client_id: "web".into(),
        name: "Web".into(),
        description: None,
        app_type,
        client_secret_hash: None,
        callbacks: vec!["https://app.example.com/callback".into()],
        allowed_logout_urls: Vec::new(),
        web_origins: Vec::new(),
        allowed_origins: Vec::new(),
        grant_types: vec![GrantType::AuthorizationCode],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        organization_usage: OrganizationUsage::Deny,
        organization_require_behavior: OrganizationRequireBehavior::NoPrompt,
        organization_discovery_methods: None,
        signing_alg: SigningAlg::RS256,
        is_first_party: true,
        client_metadata: serde_json::Map::new(),
        backchannel_logout_url: None,
        refresh_token: Default::default(),
        initiate_login_uri: None,
        id_token_lifetime: crate::model::client::DEFAULT_ID_TOKEN_LIFETIME,
        inert_settings: Default::default(),
    }
}

fn web() -> Client {
    client(AppType::RegularWeb)
}

fn description<T: std::fmt::Debug>(result: Result<T, OAuthError>) -> String {
    match result {
        Err(error) => error.description,
        Ok(value) => panic!("expected a refusal, got {value:?}"),
    }
}

fn page_title<T: std::fmt::Debug>(result: Result<T, AuthorizeError>) -> String {
    match result {
        Err(AuthorizeError::Page { title, .. }) => title,
        other => panic!("expected a page, got {other:?}"),
    }
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn redirect_uri_must_be_registered_exactly() {
    let ok = query(&[("redirect_uri", "https://app.example.com/callback")]);
    assert_eq!(
        redirect_uri(&Params::new(&ok), &web()).ok(),
        Some("https://app.example.com/callback")
    );
    for altered in [
        "https://app.example.com/callback/",
        "https://app.example.com/callback?x=1",
        "https://APP.example.com/callback",
        "https://evil.example/callback",
    ] {
        let q = query(&[("redirect_uri", altered)]);
        assert_eq!(
            page_title(redirect_uri(&Params::new(&q), &web())),
            "Callback URL mismatch"
        );
    }
    assert_eq!(
        page_title(redirect_uri(&Params::new(&[]), &web())),
        "Missing redirect_uri"
    );
}

#[test]
fn a_repeated_client_id_or_redirect_uri_is_a_page_others_go_to_the_client() {
    let q = query(&[("redirect_uri", "a"), ("redirect_uri", "b")]);
    assert_eq!(
        page_title(client_parameters_once(&Params::new(&q))),
        "Invalid request"
    );
    let q = query(&[("state", "a"), ("state", "b")]);
    let params = Params::new(&q);
    assert!(client_parameters_once(&params).is_ok());
    assert_eq!(
        description(parameters_once(&params)),
        "Parameter 'state' was given more than once"
    );
    assert!(parameters_once(&Params::new(&query(&[("state", "a")]))).is_ok());
}

#[test]
fn response_type_is_code_only() {
    assert!(response_type(&Params::new(&query(&[("response_type", "code")]))).is_ok());
    let implicit = query(&[("response_type", "token")]);
    assert_eq!(
        response_type(&Params::new(&implicit)).map_err(|e| e.code),
        Err(OAuthErrorCode::UnsupportedResponseType)
    );
    assert_eq!(
        description(response_type(&Params::new(&[]))),
        "Missing required parameter: response_type"
    );
}

#[test]
fn response_mode_is_query_or_form_post() {
    let mode = |value: &str| response_mode(&Params::new(&query(&[("response_mode", value)])));
    assert_eq!(
        response_mode(&Params::new(&[])).ok(),
        Some(ResponseMode::Query)
    );
    assert_eq!(mode("query").ok(), Some(ResponseMode::Query));
    assert_eq!(mode("form_post").ok(), Some(ResponseMode::FormPost));
    assert_eq!(
        description(mode("fragment")),
        "Unsupported response_mode 'fragment'; use query or form_post"
    );
}

#[test]
fn the_client_must_be_allowed_the_code_grant() {
    assert!(code_grant_allowed(&web()).is_ok());
    let mut machine = web();
    machine.grant_types = vec![GrantType::ClientCredentials];
    assert_eq!(
        code_grant_allowed(&machine).map_err(|e| e.code),
        Err(OAuthErrorCode::UnauthorizedClient)
    );
}

#[test]
fn pkce_is_s256_and_required_for_public_clients() {
    let check = |pairs: &[(&str, &str)], client: &Client| pkce(&Params::new(&query(pairs)), client);
    let s256 = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    assert_eq!(check(&s256, &web()).ok(), Some(Some(CHALLENGE.to_owned())));
    assert_eq!(
        description(check(
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain")
            ],
            &web()
        )),
        "code_challenge_method 'plain' is not supported; use S256"
    );
    assert!(description(check(&[("code_challenge", CHALLENGE)], &web())).contains("required"));
    assert_eq!(
        description(check(&[("code_challenge_method", "S256")], &web())),
        "code_challenge_method without code_challenge"
    );
    assert!(
        description(check(
            &[
                ("code_challenge", "short"),
                ("code_challenge_method", "S256")
            ],
            &web()
        ))
        .contains("43 characters")
    );
    // A public client needs PKCE even with state; a confidential one needs
    // PKCE or state.
    assert!(description(check(&[("state", "s")], &client(AppType::Spa))).contains("public"));
    assert_eq!(check(&[("state", "s")], &web()).ok(), Some(None));
    assert!(description(check(&[], &web())).contains("CSRF"));
}

#[test]
fn prompt_takes_known_values_and_none_alone() {
    let check = |value: &str| prompt(&Params::new(&query(&[("prompt", value)])));
    assert_eq!(prompt(&Params::new(&[])).ok(), Some(Vec::new()));
    assert_eq!(
        check("login select_account").ok(),
        Some(vec!["login".to_owned(), "select_account".to_owned()])
    );
    assert_eq!(
        description(check("signup")),
        "Unsupported prompt value 'signup'"
    );
    assert_eq!(
        description(check("none login")),
        "prompt=none cannot be combined with other values"
    );
}

#[test]
fn max_age_is_a_non_negative_integer() {
    let check = |value: &str| max_age(&Params::new(&query(&[("max_age", value)])));
    assert_eq!(max_age(&Params::new(&[])).ok(), Some(None));
    assert_eq!(check("0").ok(), Some(Some(0)));
    assert_eq!(check("3600").ok(), Some(Some(3600)));
    for bad in ["-1", "1.5", "soon"] {
        assert_eq!(
            description(check(bad)),
            "max_age must be a non-negative integer"
        );
    }
}

#[test]
fn an_organization_needs_a_client_that_uses_organizations() {
    let q = query(&[("organization", "acme")]);
    let params = Params::new(&q);
    assert!(
        description(organization(&params, &web(), true)).contains("organization_usage is deny")
    );
    let mut allows = web();
    allows.organization_usage = OrganizationUsage::Allow;
    assert_eq!(
        organization(&params, &allows, true).ok(),
        Some(Some("acme"))
    );
    assert_eq!(
        organization(&Params::new(&[]), &web(), false).ok(),
        Some(None)
    );
}

#[test]
fn an_organization_name_needs_the_tenant_setting_an_id_does_not() {
    let mut allows = web();
    allows.organization_usage = OrganizationUsage::Allow;
    let by_name = query(&[("organization", "acme")]);
    assert!(
        description(organization(&Params::new(&by_name), &allows, false))
            .contains("allow_organization_name_in_authentication_api")
    );
    let by_id = query(&[("organization", "org_Abc123")]);
    assert_eq!(
        organization(&Params::new(&by_id), &allows, false).ok(),
        Some(Some("org_Abc123"))
    );
}

#[test]
fn a_required_organization_is_asked_for_as_the_client_says() {
    let mut requires = web();
    requires.organization_usage = OrganizationUsage::Require;
    assert!(
        description(organization_prompt(&requires, false)).contains("requires an organization")
    );
    assert_eq!(organization_prompt(&requires, true).ok(), Some(None));
    requires.organization_require_behavior = OrganizationRequireBehavior::PreLoginPrompt;
    assert_eq!(
        organization_prompt(&requires, false).ok(),
        Some(Some(OrganizationPrompt::BeforeLogin))
    );
    requires.organization_require_behavior = OrganizationRequireBehavior::PostLoginPrompt;
    assert_eq!(
        organization_prompt(&requires, false).ok(),
        Some(Some(OrganizationPrompt::AfterLogin))
    );
    let mut allows = web();
    allows.organization_usage = OrganizationUsage::Allow;
    assert_eq!(organization_prompt(&allows, false).ok(), Some(None));
}

#[test]
fn an_id_token_hint_must_be_ours_and_for_this_client() {
    let q = query(&[("id_token_hint", "eyJ…")]);
    let params = Params::new(&q);
    let issued_to = |aud: &str| {
        let aud = aud.to_owned();
        move |_: &str| {
            Some(IdTokenHint {
                aud,
                sub: "usr_1".into(),
                sid: None,
            })
        }
    };
    assert_eq!(
        id_token_hint(&params, &web(), issued_to("web")).ok(),
        Some(Some("usr_1".to_owned()))
    );
    let refusal = "id_token_hint is not an ID token this server issued to the client";
    assert_eq!(
        description(id_token_hint(&params, &web(), issued_to("other"))),
        refusal
    );
    assert_eq!(
        description(id_token_hint(&params, &web(), |_: &str| None)),
        refusal
    );
    let unused = |_: &str| -> Option<IdTokenHint> { panic!("no hint to verify") };
    assert_eq!(
        id_token_hint(&Params::new(&[]), &web(), unused).ok(),
        Some(None)
    );
}

#[test]
fn scope_is_openid_scopes_and_the_apis_own() {
    let api = ResourceServer {
        id: "api_x".into(),
        name: "Invoices".into(),
        identifier: "https://invoices.example.com/".into(),
        scopes: vec![Scope {
            value: "read:invoices".into(),
            description: None,
        }],
        signing_alg: SigningAlg::RS256,
        token_lifetime: 3600,
        allow_offline_access: false,
        skip_consent_for_verifiable_first_party_clients: true,
        enforce_policies: false,
        token_dialect: TokenDialect::AccessToken,
        inert_settings: Default::default(),
    };
    assert_eq!(
        scope(&Params::new(&[]), None).ok(),
        Some(vec!["openid".to_owned()])
    );
    let q = query(&[("scope", "openid email read:invoices")]);
    assert_eq!(
        scope(&Params::new(&q), Some(&api)).map(|s| s.len()).ok(),
        Some(3)
    );
    let refused = scope(&Params::new(&q), None);
    assert_eq!(
        refused.as_ref().map_err(|e| e.code).err(),
        Some(OAuthErrorCode::InvalidScope)
    );
    assert_eq!(description(refused), "Unsupported scope 'read:invoices'");
}

#[test]
fn long_parameters_are_refused_and_an_id_token_hint_may_be_longer() {
    let long = "a".repeat(MAX_PARAMETER_BYTES + 1);
    let just_fits = "a".repeat(MAX_PARAMETER_BYTES);
    for name in [
        "state",
        "nonce",
        "login_hint",
        "scope",
        "connection",
        "anything",
    ] {
        let q = query(&[(name, long.as_str())]);
        assert_eq!(
            description(parameter_lengths(&Params::new(&q))),
            format!("Parameter '{name}' is too long")
        );
    }
    let q = query(&[
        ("state", just_fits.as_str()),
        ("id_token_hint", long.as_str()),
    ]);
    assert!(parameter_lengths(&Params::new(&q)).is_ok());
    let longer = "a".repeat(MAX_ID_TOKEN_HINT_BYTES + 1);
    let q = query(&[("id_token_hint", longer.as_str())]);
    assert!(parameter_lengths(&Params::new(&q)).is_err());
}

#[test]
fn a_native_clients_loopback_callback_matches_any_port_and_nothing_else() {
    let mut native = client(AppType::Native);
    native.callbacks = vec![
        "http://127.0.0.1/callback".into(),
        "http://[::1]/cb".into(),
        "http://localhost/cb".into(),
    ];
    let check = |client: &Client, uri: &str| {
        let q = query(&[("redirect_uri", uri)]);
        redirect_uri(&Params::new(&q), client).is_ok()
    };
    assert!(check(&native, "http://127.0.0.1:51004/callback"));
    assert!(check(&native, "http://127.0.0.1/callback"));
    assert!(check(&native, "http://[::1]:8000/cb"));
    for refused in [
        "http://127.0.0.1:51004/callback/other",
        "http://127.0.0.1:51004/callback?x=1",
        "https://127.0.0.1:51004/callback",
        "http://127.1:51004/callback",
        "http://127.0.0.2:51004/callback",
        "http://[::1]:8000/callback",
        "http://localhost:8000/cb",
        "http://user@127.0.0.1:5000/callback",
    ] {
        assert!(!check(&native, refused), "{refused} matched");
    }
    // A web client's loopback callback is still compared exactly.
    let mut web = web();
    web.callbacks = vec!["http://127.0.0.1/callback".into()];
    assert!(!check(&web, "http://127.0.0.1:51004/callback"));
    assert!(check(&web, "http://127.0.0.1/callback"));
}
