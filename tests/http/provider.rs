//! Discovery, JWKS and the token endpoint.

use reqwest::StatusCode;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::oidc::claims;
use crate::support::{BOOTSTRAP_ID, BOOTSTRAP_SECRET, Backend, spawn};

on_both_backends!(
    discovery_lists_what_is_supported,
    client_credentials_with_post_basic_and_json,
    token_endpoint_refuses_bad_requests
);

async fn discovery_lists_what_is_supported(backend: Backend) {
    let app = spawn(backend).await;
    let discovery: Value = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], app.issuer.as_str());
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}oauth/token", app.issuer)
    );
    assert_eq!(
        discovery["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(discovery["request_uri_parameter_supported"], false);
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
    // Every endpoint it names is served (none answers 404 or 405 to its method).
    for (name, method) in [
        ("authorization_endpoint", reqwest::Method::GET),
        ("token_endpoint", reqwest::Method::POST),
        ("userinfo_endpoint", reqwest::Method::GET),
        ("revocation_endpoint", reqwest::Method::POST),
        ("introspection_endpoint", reqwest::Method::POST),
        ("end_session_endpoint", reqwest::Method::GET),
    ] {
        let url = discovery[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} missing"))
            .replace(&app.issuer, &format!("{}/", app.base));
        let status = app
            .http
            .request(method, &url)
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{name} answers {status}"
        );
    }
    let jwks_uri = discovery["jwks_uri"]
        .as_str()
        .unwrap()
        .replace(&app.issuer, &format!("{}/", app.base));
    let response = app.http.get(jwks_uri).send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/jwk-set+json"
    );
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    // current + next for RS256, ES256 and EdDSA; no private parts.
    assert_eq!(keys.len(), 6, "{jwks}");
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert_eq!(keys.iter().filter(|k| k["alg"] == alg).count(), 2, "{alg}");
    }
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(
            key.get("d").is_none(),
            "private key material in JWKS: {key}"
        );
    }
}

async fn client_credentials_with_post_basic_and_json(backend: Backend) {
    let app = spawn(backend).await;
    let audience = app.management_audience();

    // client_secret_post, form-encoded
    let (status, body) = app
        .request_token(BOOTSTRAP_ID, BOOTSTRAP_SECRET, &audience)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    // Management API tokens live an hour.
    assert_eq!(body["expires_in"], 3600);
    assert!(
        body["scope"]
            .as_str()
            .unwrap()
            .contains("create:connections")
    );
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let claims = claims(token);
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], audience.as_str());
    assert_eq!(claims["sub"], format!("{BOOTSTRAP_ID}@clients"));
    assert_eq!(claims["client_id"], BOOTSTRAP_ID);

    // client_secret_basic: not this client's method (client_auth.rs has a
    // client that registered it).
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(BOOTSTRAP_ID, Some(BOOTSTRAP_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", audience.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["cache-control"], "no-store");

    // JSON body, as Auth0 accepts, narrowing the scope
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .json(&serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": BOOTSTRAP_ID,
            "client_secret": BOOTSTRAP_SECRET,
            "audience": audience,
            "scope": "read:organizations",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read:organizations");
}

async fn token_endpoint_refuses_bad_requests(backend: Backend) {
    let app = spawn(backend).await;
    let audience = app.management_audience();
    let token_url = app.url("/oauth/token");

    let (status, body) = app
        .request_token(BOOTSTRAP_ID, "wrong-secret", &audience)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = app
        .request_token("no-such-client", BOOTSTRAP_SECRET, &audience)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = app
        .request_token(BOOTSTRAP_ID, BOOTSTRAP_SECRET, "https://other.example/api")
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );

    let send = |form: Vec<(&'static str, String)>| {
        let request = app.http.post(&token_url).form(&form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let base = |extra: &[(&'static str, &str)]| {
        let mut form = vec![
            ("client_id", BOOTSTRAP_ID.to_owned()),
            ("client_secret", BOOTSTRAP_SECRET.to_owned()),
        ];
        form.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        form
    };
    let (status, body) = send(base(&[("audience", &audience)])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "no grant_type"
    );
    let (status, body) = send(base(&[("grant_type", "password"), ("audience", &audience)])).await;
    assert_eq!(body["error"], "unsupported_grant_type", "{status}");
    let (status, body) = send(base(&[("grant_type", "client_credentials")])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "no audience"
    );
    let (status, body) = send(base(&[
        ("grant_type", "client_credentials"),
        ("audience", &audience),
        ("scope", "read:organizations delete:everything"),
    ]))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (_, body) = send(base(&[
        ("grant_type", "client_credentials"),
        ("grant_type", "client_credentials"),
        ("audience", &audience),
    ]))
    .await;
    assert_eq!(body["error"], "invalid_request", "repeated parameter");

    // Two authentication methods at once.
    let response = app
        .http
        .post(&token_url)
        .basic_auth(BOOTSTRAP_ID, Some(BOOTSTRAP_SECRET))
        .form(&base(&[
            ("grant_type", "client_credentials"),
            ("audience", &audience),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Neither form nor JSON.
    let response = app
        .http
        .post(&token_url)
        .header("content-type", "text/plain")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
