//! Organization-scoped machine tokens: `client_credentials` with
//! `organization`, as the client grant's `organization_usage` and its
//! association with organizations allow.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::claims;
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(machine_tokens_are_scoped_to_associated_organizations);
on_both_backends!(machine_tokens_take_the_apis_signing_alg_and_lifetime);

const API: &str = "https://api.hoekstra.example/";

async fn machine_token(
    app: &TestApp,
    client: &Value,
    organization: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client["client_id"].as_str().unwrap()),
        ("client_secret", client["client_secret"].as_str().unwrap()),
        ("audience", API),
    ];
    if let Some(organization) = organization {
        form.push(("organization", organization));
    }
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn org_id_claim(body: &Value) -> Value {
    claims(body["access_token"].as_str().unwrap())["org_id"].clone()
}

async fn machine_tokens_are_scoped_to_associated_organizations(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, client) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &admin,
            Some(json!({"name": "Sync job", "app_type": "non_interactive"})),
        )
        .await;
    let (status, api) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &admin,
            Some(json!({"name": "Invoices", "identifier": API, "scopes": [{"value": "read:invoices"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let (status, grant) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &admin,
            Some(json!({"client_id": client["client_id"], "audience": API, "scope": ["read:invoices"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let grant_id = grant["id"].as_str().unwrap().to_owned();
    let (_, hoekstra) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &admin,
            Some(json!({"name": "hoekstra"})),
        )
        .await;
    let (_, metahexa) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &admin,
            Some(json!({"name": "metahexa"})),
        )
        .await;
    let hoekstra_id = hoekstra["id"].as_str().unwrap();
    let grants_path = format!("/api/v2/organizations/{hoekstra_id}/client-grants");

    // organization_usage unset (deny): the parameter is refused, and the
    // grant cannot be associated.
    let (status, body) = machine_token(&app, &client, Some("hoekstra")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = app
        .api(
            Method::POST,
            &grants_path,
            &admin,
            Some(json!({"grant_id": grant_id})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // allow: without organization a plain token; with one, only where associated.
    app.api(
        Method::PATCH,
        &format!("/api/v2/client-grants/{grant_id}"),
        &admin,
        Some(json!({"organization_usage": "allow"})),
    )
    .await;
    let (status, body) = machine_token(&app, &client, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(org_id_claim(&body), Value::Null);
    let (status, body) = machine_token(&app, &client, Some(hoekstra_id)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );
    let (status, body) = app
        .api(
            Method::POST,
            &grants_path,
            &admin,
            Some(json!({"grant_id": grant_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], grant_id.as_str());
    let (_, listed) = app.api(Method::GET, &grants_path, &admin, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // By name only when the tenant allows names (as Auth0); by id always.
    let (status, body) = machine_token(&app, &client, Some("hoekstra")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    app.allow_organization_names(&admin, true).await;
    for name_or_id in ["hoekstra", hoekstra_id] {
        let (status, body) = machine_token(&app, &client, Some(name_or_id)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(org_id_claim(&body), hoekstra_id);
    }
    // A token for hoekstra is never one for metahexa.
    let (status, _) = machine_token(&app, &client, Some("metahexa")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = machine_token(&app, &client, Some("nowhere")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // require: the parameter must be given.
    app.api(
        Method::PATCH,
        &format!("/api/v2/client-grants/{grant_id}"),
        &admin,
        Some(json!({"organization_usage": "require"})),
    )
    .await;
    let (status, body) = machine_token(&app, &client, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // allow_any_organization opens every organization.
    app.api(
        Method::PATCH,
        &format!("/api/v2/client-grants/{grant_id}"),
        &admin,
        Some(json!({"allow_any_organization": true})),
    )
    .await;
    let (status, body) = machine_token(&app, &client, Some("metahexa")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(org_id_claim(&body), metahexa["id"]);

    // Removing the association closes hoekstra again (once allow_any is off).
    app.api(
        Method::PATCH,
        &format!("/api/v2/client-grants/{grant_id}"),
        &admin,
        Some(json!({"allow_any_organization": false})),
    )
    .await;
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("{grants_path}/{grant_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = machine_token(&app, &client, Some("hoekstra")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .api(
            Method::DELETE,
            &format!("{grants_path}/{grant_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// As in Auth0, the API decides how its tokens are signed and how long they
/// live, in the client_credentials grant too (not the client's algorithm, not
/// a fixed day).
async fn machine_tokens_take_the_apis_signing_alg_and_lifetime(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, client) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &admin,
            Some(json!({"name": "Sync job", "app_type": "non_interactive",
                        "jwt_configuration": {"alg": "ES256"}})),
        )
        .await;
    let (status, api) = app
        .api(
            Method::POST,
            "/api/v2/resource-servers",
            &admin,
            Some(
                json!({"name": "Invoices", "identifier": API, "signing_alg": "EdDSA",
                        "token_lifetime": 900, "scopes": [{"value": "read:invoices"}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    let (status, grant) = app
        .api(
            Method::POST,
            "/api/v2/client-grants",
            &admin,
            Some(json!({"client_id": client["client_id"], "audience": API, "scope": ["read:invoices"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");

    for (alg, lifetime) in [
        (jsonwebtoken::Algorithm::EdDSA, 900),
        (jsonwebtoken::Algorithm::RS256, 120),
    ] {
        let (status, body) = machine_token(&app, &client, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(jsonwebtoken::decode_header(token).unwrap().alg, alg);
        let access = claims(token);
        assert_eq!(
            (
                access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
                body["expires_in"].as_i64().unwrap()
            ),
            (lifetime, lifetime)
        );
        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/api/v2/resource-servers/{}", api["id"].as_str().unwrap()),
                &admin,
                Some(json!({"signing_alg": "RS256", "token_lifetime": 120})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
