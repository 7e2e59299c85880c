//! Clients that require an organization: `pre_login_prompt` asks for its
//! name first, `post_login_prompt` lets the user pick among their
//! organizations after logging in; neither ever issues a code without one.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    Tenant, authorize, browser, claims, code_params, hidden, location, log_in_alice, query_param,
    redeem_code, redirect_error, tenant,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    pre_login_prompt_asks_for_the_organization_first,
    post_login_prompt_picks_among_the_users_organizations
);

async fn require_organization(app: &TestApp, t: &Tenant, behavior: &str) {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(
                json!({"organization_usage": "require", "organization_require_behavior": behavior}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn page(app: &TestApp, b: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let response = b.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn org_id_of_code(app: &TestApp, t: &Tenant, callback: &str) -> Value {
    let code = query_param(callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    let tokens = redeem_code(app, t, &code, None).await;
    claims(tokens["id_token"].as_str().unwrap())["org_id"].clone()
}

async fn pre_login_prompt_asks_for_the_organization_first(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    require_organization(&app, &t, "pre_login_prompt").await;
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let login_path = location(&start);
    // The identifier page is not reachable before the organization is known.
    let to_org = b.get(app.url(&login_path)).send().await.unwrap();
    assert_eq!(to_org.status(), StatusCode::SEE_OTHER);
    let org_path = location(&to_org);
    assert!(org_path.starts_with("/u/organization"), "{org_path}");
    let (status, html) = page(&app, &b, &org_path).await;
    assert_eq!(status, StatusCode::OK);
    let (state, csrf) = (hidden(&html, "state"), hidden(&html, "csrf"));
    // Skipping the step by posting the email is refused.
    let response = b
        .post(app.url("/u/login"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("email", "alice@hoekstra.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // So is signing up instead (no account is created, no code issued).
    let response = b
        .post(app.url("/u/signup"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("email", "mallory@hoekstra.example"),
            ("password", "mallory-password-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), StatusCode::SEE_OTHER);
    let admin = app.admin_token().await;
    let (_, found) = app
        .api(
            Method::GET,
            "/api/v2/users-by-email?email=mallory@hoekstra.example",
            &admin,
            None,
        )
        .await;
    assert_eq!(found, json!([]));
    // An unknown name is said so; a forged form refused.
    let response = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("organization", "nowhere"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("No organization has that name")
    );
    let response = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", "forged"),
            ("organization", "hoekstra"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("organization", "Hoekstra"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Then the usual login, into that organization.
    let callback = log_in_alice(&app, &b, response).await;
    assert_eq!(org_id_of_code(&app, &t, &callback).await, t.org_id.as_str());

    // prompt=none cannot answer a request that still needs the organization.
    let response = authorize(&app, &b, &code_params(&t.client_id, &[("prompt", "none")])).await;
    assert_eq!(redirect_error(&response).as_deref(), Some("login_required"));
}

async fn post_login_prompt_picks_among_the_users_organizations(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    require_organization(&app, &t, "post_login_prompt").await;

    // Alice is in no organization yet: the login ends in access_denied.
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let next = log_in_alice(&app, &b, start).await;
    assert!(next.starts_with("/u/organization"), "{next}");
    let response = b.get(app.url(&next)).send().await.unwrap();
    let to = location(&response);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("access_denied"),
        "{to}"
    );

    // A member of both organizations picks one.
    let token = app.admin_token().await;
    let (_, users) = app
        .api(
            Method::GET,
            "/api/v2/users-by-email?email=alice@hoekstra.example",
            &token,
            None,
        )
        .await;
    let alice = users[0]["user_id"].as_str().unwrap().to_owned();
    for org in [&t.org_id, &t.other_org_id] {
        let (status, _) = app
            .api(
                Method::POST,
                &format!("/api/v2/organizations/{org}/members"),
                &token,
                Some(json!({"members": [alice]})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let next = log_in_alice(&app, &b, start).await;
    let (status, html) = page(&app, &b, &next).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&t.org_id) && html.contains(&t.other_org_id),
        "{html}"
    );
    let (state, csrf) = (hidden(&html, "state"), hidden(&html, "csrf"));
    // An organization she is not in is refused, even by id.
    let (_, stranger) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({"name": "stranger"})),
        )
        .await;
    let response = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("organization", stranger["id"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Another browser cannot pick for her.
    let response = browser()
        .post(app.url("/u/organization"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("organization", t.other_org_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("organization", t.other_org_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = location(&response);
    assert_eq!(
        org_id_of_code(&app, &t, &callback).await,
        t.other_org_id.as_str()
    );
    // The transaction is over: picking again does nothing.
    let response = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("organization", t.org_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // With the session, the next login goes straight to the picker.
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let next = location(&start);
    assert!(
        next.starts_with("/u/organization"),
        "no password again: {next}"
    );
    let (status, html) = page(&app, &b, &next).await;
    assert_eq!(status, StatusCode::OK);
    let response = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", hidden(&html, "state").as_str()),
            ("csrf", hidden(&html, "csrf").as_str()),
            ("organization", t.org_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let callback = location(&response);
    assert_eq!(org_id_of_code(&app, &t, &callback).await, t.org_id.as_str());
    // prompt=none cannot pick: login_required.
    let response = authorize(&app, &b, &code_params(&t.client_id, &[("prompt", "none")])).await;
    assert_eq!(redirect_error(&response).as_deref(), Some("login_required"));
}
