//! Clients, their secrets, and client grants.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::support::oidc::{alice_code, claims, code_form, code_params, redeem, tenant};
use crate::support::{Backend, spawn};

on_both_backends!(
    client_secrets_are_shown_once_and_rotate,
    client_grants_decide_token_scopes,
    an_auth0_client_definition_round_trips,
    id_tokens_live_as_the_clients_jwt_configuration_says
);

async fn client_secrets_are_shown_once_and_rotate(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(json!({"name": "Web", "app_type": "regular_web", "callbacks": ["https://app.acme.test/callback"],
                        "organization_usage": "require", "organization_require_behavior": "pre_login_prompt",
                        "jwt_configuration": {"alg": "ES256"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43);
    assert_eq!(created["organization_usage"], "require");
    assert_eq!(created["jwt_configuration"]["alg"], "ES256");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_post");

    let (_, read) = app
        .api(
            Method::GET,
            &format!("/api/v2/clients/{client_id}"),
            &token,
            None,
        )
        .await;
    assert!(
        read.get("client_secret").is_none(),
        "secret shown again: {read}"
    );
    let stored = app.store().await.get_client(client_id).await.unwrap();
    assert_ne!(
        stored.client_secret_hash.as_deref(),
        Some(secret.as_str()),
        "secret stored in clear"
    );

    // A grant, then the token signed with the client's algorithm.
    let (status, _) = app
        .api(Method::POST, "/api/v2/client-grants", &token,
             Some(json!({"client_id": client_id, "audience": app.management_audience(), "scope": ["read:clients"]})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .request_token(client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let header = jsonwebtoken::decode_header(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);

    let (status, rotated) = app
        .api(
            Method::POST,
            &format!("/api/v2/clients/{client_id}/rotate-secret"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (status, _) = app
        .request_token(client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "old secret still works after rotation"
    );
    let (status, _) = app
        .request_token(client_id, new_secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{client_id}"),
            &token,
            Some(json!({"callbacks": ["https://app.acme.test/cb2"], "name": "Web 2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["callbacks"], json!(["https://app.acme.test/cb2"]));
    for bad in [
        json!({"callbacks": ["http://evil.example/cb"]}),
        json!({"grant_types": ["implicit"]}),
        json!({"app_type": "spa", "token_endpoint_auth_method": "client_secret_post"}),
        json!({"organization_usage": "sometimes"}),
    ] {
        let (status, error) = app
            .api(
                Method::PATCH,
                &format!("/api/v2/clients/{client_id}"),
                &token,
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
    }

    let (_, spa) = app
        .api(Method::POST, "/api/v2/clients", &token,
             Some(json!({"name": "SPA", "app_type": "spa", "callbacks": ["http://localhost:5173/callback"]})))
        .await;
    assert!(
        spa.get("client_secret").is_none(),
        "public clients get no secret: {spa}"
    );
    assert_eq!(spa["token_endpoint_auth_method"], "none");

    let (_, list) = app
        .api(
            Method::GET,
            "/api/v2/clients?include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(list["total"], 3, "bootstrap + web + spa: {list}");

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/clients/{client_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .request_token(client_id, new_secret, &app.management_audience())
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a deleted client still gets tokens"
    );
}

async fn client_grants_decide_token_scopes(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (client_id, secret) = app.machine_client(&token, "M2M").await;

    let (status, _) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no grant yet");

    let grant_body = json!({"client_id": client_id, "audience": app.management_audience(), "scope": ["read:users"]});
    let (status, grant) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(grant_body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert!(grant["id"].as_str().unwrap().starts_with("cgr_"));
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(grant_body),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, error) = app
        .api(Method::POST, "/api/v2/client-grants", &token,
             Some(json!({"client_id": client_id, "audience": app.management_audience(), "scope": ["launch:missiles"]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &token,
            Some(json!({"client_id": "nobody", "audience": "https://api.acme.test/", "scope": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, body) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(body["scope"], "read:users");

    let grant_id = grant["id"].as_str().unwrap();
    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/client-grants/{grant_id}"),
            &token,
            Some(json!({"scope": ["read:users", "read:roles"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (_, body) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(body["scope"], "read:users read:roles");

    let (_, filtered) = app
        .api(
            Method::GET,
            &format!("/api/v2/client-grants?client_id={client_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/client-grants/{grant_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .request_token(&client_id, &secret, &app.management_audience())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A client as Auth0's tools write it: what has a meaning here is honoured,
/// the rest is kept and returned as sent; only names Auth0 lacks are refused.
async fn an_auth0_client_definition_round_trips(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let refresh_token = json!({
        "rotation_type": "non-rotating", "expiration_type": "expiring", "leeway": 0,
        "token_lifetime": 31_557_600, "infinite_token_lifetime": false,
        "idle_token_lifetime": 2_592_000, "infinite_idle_token_lifetime": true
    });
    let inert = json!({
        "logo_uri": "https://app.acme.test/logo.png",
        "sso": false,
        "oidc_conformant": true,
        "cross_origin_authentication": false,
        "organization_discovery_methods": ["email", "organization_name"],
        "token_quota": {"client_credentials": {"enforce": true, "per_day": 100}},
        "addons": {"samlp": {"audience": "urn:acme"}},
        "native_social_login": {"apple": {"enabled": false}},
        "client_aliases": ["acme-web"],
        "par_request_expiry": 60,
        "require_pushed_authorization_requests": false
    });
    let mut definition = json!({
        "name": "Acme Web", "app_type": "regular_web",
        "callbacks": ["https://app.acme.test/callback"],
        "initiate_login_uri": "https://app.acme.test/login",
        "allowed_origins": ["https://app.acme.test"],
        "web_origins": ["https://app.acme.test"],
        "jwt_configuration": {"alg": "RS256", "lifetime_in_seconds": 600, "secret_encoded": false,
                              "scopes": {}},
        "refresh_token": refresh_token,
    });
    for (name, value) in inert.as_object().unwrap() {
        definition[name] = value.clone();
    }
    let (status, created) = app
        .api(Method::POST, "/api/v2/clients", &token, Some(definition))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/api/v2/clients/{}", created["client_id"].as_str().unwrap());
    let (_, read) = app.api(Method::GET, &path, &token, None).await;
    for answer in [&created, &read] {
        assert_eq!(answer["refresh_token"], refresh_token, "{answer}");
        assert_eq!(answer["initiate_login_uri"], "https://app.acme.test/login");
        assert_eq!(
            answer["jwt_configuration"],
            json!({"alg": "RS256", "lifetime_in_seconds": 600, "secret_encoded": false, "scopes": {}})
        );
        for (name, value) in inert.as_object().unwrap() {
            assert_eq!(&answer[name], value, "{name}");
        }
    }

    // PATCH: a value replaces, null removes, what is left out stays.
    let (status, patched) = app
        .api(
            Method::PATCH,
            &path,
            &token,
            Some(
                json!({"sso": true, "logo_uri": null, "initiate_login_uri": null,
                        "jwt_configuration": {"lifetime_in_seconds": 1200}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["sso"], true);
    assert!(patched.get("logo_uri").is_none(), "{patched}");
    assert!(patched.get("initiate_login_uri").is_none(), "{patched}");
    assert_eq!(patched["token_quota"], inert["token_quota"]);
    assert_eq!(patched["jwt_configuration"]["lifetime_in_seconds"], 1200);
    assert_eq!(patched["jwt_configuration"]["secret_encoded"], false);

    // Refused: a name Auth0 does not have, a value of the wrong type, a
    // login URI that is not https.
    for (body, expected) in [
        (
            json!({"no_such_property": 1}),
            "unknown field `no_such_property`",
        ),
        (json!({"sso": "yes"}), "invalid type"),
        (
            json!({"initiate_login_uri": "http://app.acme.test/login"}),
            "initiate_login_uri",
        ),
        (
            json!({"jwt_configuration": {"lifetime_in_seconds": 0}}),
            "lifetime_in_seconds",
        ),
        (
            json!({"refresh_token": {"rotation": "rotating"}}),
            "unknown field `rotation`",
        ),
    ] {
        let (status, refused) = app
            .api(Method::PATCH, &path, &token, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
        assert_eq!(refused["error"], "Bad Request");
        assert!(
            refused["message"].as_str().unwrap().contains(expected),
            "{body}: {refused}"
        );
    }
}

async fn id_tokens_live_as_the_clients_jwt_configuration_says(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let token = app.admin_token().await;
    let lifetime_of_a_new_id_token = async || {
        let code = alice_code(
            &app,
            &code_params(&t.client_id, &[("organization", "hoekstra")]),
        )
        .await;
        let (status, tokens) = redeem(&app, &code_form(&t, &code)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let id_token = claims(tokens["id_token"].as_str().unwrap());
        id_token["exp"].as_i64().unwrap() - id_token["iat"].as_i64().unwrap()
    };
    assert_eq!(lifetime_of_a_new_id_token().await, 3600, "the default");
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(json!({"jwt_configuration": {"lifetime_in_seconds": 36_000}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["jwt_configuration"]["alg"], "RS256", "kept");
    assert_eq!(lifetime_of_a_new_id_token().await, 36_000);
}
