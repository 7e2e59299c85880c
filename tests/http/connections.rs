//! Connections.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::organizations::{create_connection, oidc_connection};
use crate::support::{Backend, spawn};
use switchyard::model::secret::Secret;

on_both_backends!(connection_lifecycle_and_filters);
on_both_backends!(options_come_back_as_sent_without_secrets);

async fn connection_lifecycle_and_filters(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;

    let oidc = create_connection(&app, &token, oidc_connection("acme-oidc")).await;
    assert!(oidc.starts_with("con_"));
    let _db = create_connection(
        &app,
        &token,
        json!({"name": "users", "strategy": "auth0", "options": {"passwordPolicy": "good"}}),
    )
    .await;
    let cert = rcgen_cert();
    let saml = create_connection(
        &app,
        &token,
        json!({"name": "acme-saml", "strategy": "samlp", "display_name": "Acme SAML",
               "options": {"signInEndpoint": "https://idp.acme.test/sso", "signingCert": cert, "domain_aliases": ["acme.test"]}}),
    )
    .await;

    let (status, got) = app
        .api(
            Method::GET,
            &format!("/api/v2/connections/{oidc}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["strategy"], "oidc");
    assert_eq!(got["options"]["client_id"], "c");
    assert!(
        got["options"].get("client_secret").is_none(),
        "secrets are write-only: {got}"
    );

    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(oidc_connection("acme-oidc")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (_, by_strategy) = app
        .api(
            Method::GET,
            "/api/v2/connections?strategy=samlp",
            &token,
            None,
        )
        .await;
    let ids: Vec<&str> = by_strategy
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![saml.as_str()]);
    let (_, by_name) = app
        .api(
            Method::GET,
            "/api/v2/connections?name=acme-oidc",
            &token,
            None,
        )
        .await;
    assert_eq!(by_name.as_array().unwrap().len(), 1);
    let (status, _) = app
        .api(
            Method::GET,
            "/api/v2/connections?strategy=ldap",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, totals) = app
        .api(
            Method::GET,
            "/api/v2/connections?include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(totals["total"], 3);

    // The list carries each connection's enabled clients.
    let (_, client) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(json!({"name": "Web"})),
        )
        .await;
    let client_id = client["client_id"].as_str().unwrap();
    create_connection(
        &app,
        &token,
        json!({"name": "with-client", "strategy": "auth0", "enabled_clients": [client_id]}),
    )
    .await;
    let (_, listed) = app
        .api(
            Method::GET,
            "/api/v2/connections?strategy=auth0",
            &token,
            None,
        )
        .await;
    let enabled_of = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["enabled_clients"]
            .clone()
    };
    assert_eq!(enabled_of("with-client"), json!([client_id]), "{listed}");
    assert_eq!(enabled_of("users"), json!([]), "{listed}");

    // PATCH replaces options; a secret left out is kept, name and strategy cannot change.
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{oidc}"),
            &token,
            Some(json!({"display_name": "Acme SSO", "options": {"client_id": "c2", "issuer": "https://idp2.example.com", "type": "back_channel"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["options"]["client_id"], "c2");
    let store = app.store().await;
    let stored = store.get_connection(&oidc).await.unwrap();
    assert_eq!(
        stored.options.client_secret().map(Secret::expose),
        Some("s"),
        "the stored secret survives a PATCH without it"
    );
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{oidc}"),
            &token,
            Some(json!({"strategy": "samlp"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{oidc}"),
            &token,
            Some(json!({"options": {"client_id": "c3"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "options without issuer");

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/connections/{oidc}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body): (StatusCode, Value) = app
        .api(
            Method::GET,
            &format!("/api/v2/connections/{oidc}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// Typed options keep what a provisioning tool sent, known or not: the
/// Management API returns (and the store keeps) the same object, less the
/// secret.
async fn options_come_back_as_sent_without_secrets(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let sent = json!({
        "type": "back_channel",
        "issuer": "https://idp.example.com",
        "client_id": "c",
        "client_secret": "s",
        "scope": ["openid", "email"],
        "domain_aliases": ["acme.test"],
        "attribute_map": {"mapping_mode": "bind_all", "future_option": [1, "two"]},
        "upstream_params": {"screen_name": {"alias": "login_hint"}},
        "set_user_root_attributes": "on_each_login",
        "big": 9_007_199_254_740_991_i64,
    });
    let id = create_connection(
        &app,
        &token,
        json!({"name": "acme-oidc", "strategy": "oidc", "options": sent}),
    )
    .await;
    let mut expected = sent.clone();
    expected.as_object_mut().unwrap().remove("client_secret");
    let (status, got) = app
        .api(
            Method::GET,
            &format!("/api/v2/connections/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["options"], expected);
    let (_, listed) = app
        .api(Method::GET, "/api/v2/connections", &token, None)
        .await;
    assert_eq!(listed[0]["options"], expected, "{listed}");

    // A refusal names the option, as Auth0 does.
    let mut bad = sent.clone();
    bad["attribute_map"]["mapping_mode"] = json!("all");
    let (status, error) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(json!({"name": "acme-oidc-2", "strategy": "oidc", "options": bad})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("options.attribute_map.mapping_mode"),
        "{error}"
    );
}

/// A real X.509 certificate (base64 DER), as an IdP's signing certificate.
fn rcgen_cert() -> String {
    use base64::Engine;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["idp.acme.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(cert.der())
}
