//! The post-login organization picker: every organization of the user,
//! paged and searched (no cap), and the one their verified email domain
//! lets them join — at once (`auto`), after a confirmation (`suggest`), or
//! once an admin approved their request (`admin_approval`, through the
//! Management API's `join_requests`). An unverified email, or a domain the
//! organization has not verified, joins nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    Tenant, authorize, browser, claims, code_params, hidden, location, log_in, query_param,
    redeem_code, tenant,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    the_picker_pages_and_searches_every_membership,
    auto_joins_when_picked,
    suggest_joins_after_a_confirmation,
    admin_approval_waits_for_an_admin,
    join_request_routes_answer_in_the_api_shape,
    an_unverified_email_or_domain_joins_nothing,
);

const PASSWORD: &str = "picker-password-1";

/// A [`tenant`] whose `Web` client requires an organization, picked after login.
async fn picker_tenant(app: &TestApp) -> (Tenant, String) {
    let t = tenant(app).await;
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(json!({"organization_usage": "require", "organization_require_behavior": "post_login_prompt"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (t, token)
}

async fn create_user(app: &TestApp, token: &str, email: &str, verified: bool) -> String {
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/users",
            token,
            Some(json!({"connection": "users", "email": email, "password": PASSWORD, "email_verified": verified})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["user_id"].as_str().unwrap().to_owned()
}

/// An organization enabling the tenant's connection (without assigning
/// membership on login) with `domain_membership`, claiming `domain` with
/// `status`.
async fn create_org(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    name: &str,
    domain_membership: &str,
    domain: Option<(&str, &str)>,
) -> String {
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            token,
            Some(json!({
                "name": name,
                "display_name": format!("{name} display"),
                "domain_membership": domain_membership,
                "enabled_connections": [{"connection_id": t.connection_id}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    assert_eq!(org["domain_membership"], domain_membership);
    let id = org["id"].as_str().unwrap().to_owned();
    if let Some((domain, status)) = domain {
        let (code, body) = app
            .api(
                Method::POST,
                &format!("/api/v2/organizations/{id}/discovery-domains"),
                token,
                Some(json!({"domain": domain, "status": status})),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    id
}

async fn add_member(app: &TestApp, token: &str, org: &str, user_id: &str) {
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org}/members"),
            token,
            Some(json!({"members": [user_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn is_member(app: &TestApp, token: &str, org: &str, user_id: &str) -> bool {
    let (status, members) = app
        .api(
            Method::GET,
            &format!("/api/v2/organizations/{org}/members"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{members}");
    members
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["user_id"] == user_id)
}

async fn get(app: &TestApp, b: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let response = b.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Logs `email` in for the `Web` client; returns the browser and the
/// picker's page.
async fn picker(app: &TestApp, t: &Tenant, email: &str) -> (reqwest::Client, String) {
    let b = browser();
    let start = authorize(app, &b, &code_params(&t.client_id, &[])).await;
    let next = log_in(app, &b, start, email, PASSWORD).await;
    assert!(next.starts_with("/u/organization?state="), "{next}");
    let (status, html) = get(app, &b, &next).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    (b, html)
}

/// Posts the picker's form of `html` for `organization`, with `action`.
async fn pick(
    app: &TestApp,
    b: &reqwest::Client,
    html: &str,
    organization: &str,
    action: &str,
) -> reqwest::Response {
    let (state, csrf) = (hidden(html, "state"), hidden(html, "csrf"));
    post_pick(app, b, &state, &csrf, organization, action).await
}

async fn post_pick(
    app: &TestApp,
    b: &reqwest::Client,
    state: &str,
    csrf: &str,
    organization: &str,
    action: &str,
) -> reqwest::Response {
    b.post(app.url("/u/organization"))
        .form(&[
            ("state", state),
            ("csrf", csrf),
            ("organization", organization),
            ("action", action),
        ])
        .send()
        .await
        .unwrap()
}

async fn org_of_callback(app: &TestApp, t: &Tenant, response: &reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = location(response);
    let code = query_param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    let tokens = redeem_code(app, t, &code, None).await;
    claims(tokens["id_token"].as_str().unwrap())["org_id"].clone()
}

/// The organization ids the page offers to pick.
fn buttons(html: &str) -> Vec<String> {
    html.split("name=\"organization\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// The href of the page's `rel` link, as the browser follows it.
fn link(html: &str, rel: &str) -> Option<String> {
    let marker = format!("\" rel=\"{rel}\"");
    let end = html.find(&marker)?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

async fn the_picker_pages_and_searches_every_membership(backend: Backend) {
    let app = spawn(backend).await;
    let (t, token) = picker_tenant(&app).await;
    let user_id = create_user(&app, &token, "many@hoekstra.example", false).await;
    // A single organization: the picker shows it (as before), one button.
    let first = create_org(&app, &t, &token, "org-00", "off", None).await;
    add_member(&app, &token, &first, &user_id).await;
    let (_, html) = picker(&app, &t, "many@hoekstra.example").await;
    assert_eq!(buttons(&html), [first.as_str()]);
    assert!(link(&html, "next").is_none(), "{html}");

    let mut ids = vec![first];
    for i in 1..65 {
        let id = create_org(&app, &t, &token, &format!("org-{i:02}"), "off", None).await;
        add_member(&app, &token, &id, &user_id).await;
        ids.push(id);
    }
    // 65 organizations: four pages of 20, walked with next, then back.
    let (b, html) = picker(&app, &t, "many@hoekstra.example").await;
    let mut seen = buttons(&html);
    assert_eq!(seen.len(), 20);
    assert!(link(&html, "prev").is_none());
    let mut page = html;
    while let Some(next) = link(&page, "next") {
        let (status, html) = get(&app, &b, &next).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        seen.extend(buttons(&html));
        page = html;
    }
    assert_eq!(seen, ids);
    assert_eq!(
        buttons(&page),
        [
            ids[60].clone(),
            ids[61].clone(),
            ids[62].clone(),
            ids[63].clone(),
            ids[64].clone()
        ]
    );
    let (_, previous) = get(&app, &b, &link(&page, "prev").unwrap()).await;
    assert_eq!(buttons(&previous), ids[40..60]);

    // A search by name or display name, on the server; its pages keep it.
    let state = hidden(&page, "state");
    let (_, found) = get(&app, &b, &format!("/u/organization?state={state}&q=ORG-5")).await;
    assert_eq!(buttons(&found), ids[50..60]);
    let (_, found) = get(
        &app,
        &b,
        &format!("/u/organization?state={state}&q=display"),
    )
    .await;
    assert_eq!(buttons(&found), ids[..20]);
    let (_, second) = get(&app, &b, &link(&found, "next").unwrap()).await;
    assert_eq!(buttons(&second), ids[20..40]);
    // The search is shown back escaped; a nonsense page is the first.
    let (status, found) = get(
        &app,
        &b,
        &format!("/u/organization?state={state}&q=%3Cscript%3Ex&page=zz"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(buttons(&found).is_empty());
    assert!(
        found.contains("&#60;script&#62;x") && !found.contains("<script>x"),
        "{found}"
    );
    // Any of the 65 can be picked, from any page.
    let response = pick(&app, &b, &second, &ids[64], "").await;
    assert_eq!(org_of_callback(&app, &t, &response).await, ids[64].as_str());
}

async fn auto_joins_when_picked(backend: Backend) {
    let app = spawn(backend).await;
    let (t, token) = picker_tenant(&app).await;
    let org = create_org(
        &app,
        &t,
        &token,
        "acme",
        "auto",
        Some(("acme.example", "verified")),
    )
    .await;
    let user_id = create_user(&app, &token, "vera@acme.example", true).await;
    // No membership, but her domain lets her join: listed, not refused.
    let (b, html) = picker(&app, &t, "vera@acme.example").await;
    assert_eq!(buttons(&html), [org.as_str()]);
    assert!(html.contains("Your email address lets you join"), "{html}");
    assert!(!is_member(&app, &token, &org, &user_id).await);
    let response = pick(&app, &b, &html, &org, "").await;
    assert_eq!(org_of_callback(&app, &t, &response).await, org.as_str());
    assert!(is_member(&app, &token, &org, &user_id).await);
    // Next time she is a member: her domain takes her straight into it.
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let next = log_in(&app, &b, start, "vera@acme.example", PASSWORD).await;
    assert!(
        next.starts_with("http://localhost:3000/callback?code="),
        "{next}"
    );
}

async fn suggest_joins_after_a_confirmation(backend: Backend) {
    let app = spawn(backend).await;
    let (t, token) = picker_tenant(&app).await;
    let org = create_org(
        &app,
        &t,
        &token,
        "acme",
        "suggest",
        Some(("acme.example", "verified")),
    )
    .await;
    let user_id = create_user(&app, &token, "vera@acme.example", true).await;
    let (b, html) = picker(&app, &t, "vera@acme.example").await;
    assert!(html.contains("Suggested for you"), "{html}");
    assert_eq!(buttons(&html), [org.as_str()]);
    // A plain pick is not the confirmation.
    let response = pick(&app, &b, &html, &org, "").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Confirm that you want to join")
    );
    assert!(!is_member(&app, &token, &org, &user_id).await);
    // The join form is CSRF-protected: a forged one joins nothing.
    let response = post_pick(&app, &b, &hidden(&html, "state"), "forged", &org, "join").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!is_member(&app, &token, &org, &user_id).await);
    // The confirmation joins and enters.
    let response = pick(&app, &b, &html, &org, "join").await;
    assert_eq!(org_of_callback(&app, &t, &response).await, org.as_str());
    assert!(is_member(&app, &token, &org, &user_id).await);
}

async fn admin_approval_waits_for_an_admin(backend: Backend) {
    let app = spawn(backend).await;
    let (t, token) = picker_tenant(&app).await;
    let org = create_org(
        &app,
        &t,
        &token,
        "acme",
        "admin_approval",
        Some(("acme.example", "verified")),
    )
    .await;
    let user_id = create_user(&app, &token, "vera@acme.example", true).await;
    let (b, html) = picker(&app, &t, "vera@acme.example").await;
    assert!(html.contains("Ask to join"), "{html}");
    // Neither a plain pick nor a confirmation enters.
    for action in ["", "join"] {
        let response = pick(&app, &b, &html, &org, action).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{action}");
        assert!(!is_member(&app, &token, &org, &user_id).await);
    }
    // A forged request is refused; hers is stored, and shown pending.
    let requests = format!("/api/v2/organizations/{org}/join_requests");
    let response = post_pick(&app, &b, &hidden(&html, "state"), "forged", &org, "request").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, listed) = app.api(Method::GET, &requests, &token, None).await;
    assert_eq!(listed, json!([]));
    let response = pick(&app, &b, &html, &org, "request").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, pending) = get(&app, &b, &location(&response)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(pending.contains("is pending"), "{pending}");
    assert!(buttons(&pending).is_empty(), "{pending}");
    let (status, listed) = app.api(Method::GET, &requests, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["user_id"], user_id.as_str());
    assert_eq!(listed[0]["email"], "vera@acme.example");
    // The admin approves: she is a member, and enters from the same picker.
    let (status, body) = app
        .api(
            Method::POST,
            &format!("{requests}/{user_id}/approve"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(is_member(&app, &token, &org, &user_id).await);
    let (_, listed) = app.api(Method::GET, &requests, &token, None).await;
    assert_eq!(listed, json!([]));
    let response = pick(&app, &b, &html, &org, "").await;
    assert_eq!(org_of_callback(&app, &t, &response).await, org.as_str());
}

async fn join_request_routes_answer_in_the_api_shape(backend: Backend) {
    let app = spawn(backend).await;
    let (t, token) = picker_tenant(&app).await;
    let org = create_org(
        &app,
        &t,
        &token,
        "acme",
        "admin_approval",
        Some(("acme.example", "verified")),
    )
    .await;
    let mut users = Vec::new();
    for name in ["vera", "walt"] {
        let email = format!("{name}@acme.example");
        let user_id = create_user(&app, &token, &email, true).await;
        let (b, html) = picker(&app, &t, &email).await;
        let response = pick(&app, &b, &html, &org, "request").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        users.push(user_id);
    }
    let requests = format!("/api/v2/organizations/{org}/join_requests");
    let (status, totals) = app
        .api(
            Method::GET,
            &format!("{requests}?include_totals=true"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(totals["total"], 2, "{totals}");
    let not_found = |body: &Value, code: &str| {
        assert_eq!(body["statusCode"], 404, "{body}");
        assert_eq!(body["error"], "Not Found", "{body}");
        assert_eq!(body["errorCode"], code, "{body}");
        assert!(body["message"].is_string(), "{body}");
    };
    // Unknown organization, unknown request.
    for (method, path) in [
        (
            Method::GET,
            "/api/v2/organizations/org_nope/join_requests".to_owned(),
        ),
        (
            Method::POST,
            format!(
                "/api/v2/organizations/org_nope/join_requests/{}/approve",
                users[0]
            ),
        ),
        (
            Method::DELETE,
            format!("/api/v2/organizations/org_nope/join_requests/{}", users[0]),
        ),
    ] {
        let (status, body) = app.api(method, &path, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        not_found(&body, "inexistent_organization");
    }
    for (method, path) in [
        (Method::POST, format!("{requests}/auth0|nobody/approve")),
        (Method::DELETE, format!("{requests}/auth0|nobody")),
    ] {
        let (status, body) = app.api(method, &path, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        not_found(&body, "inexistent_join_request");
    }
    // Made a member another way meanwhile: approving is a conflict.
    add_member(&app, &token, &org, &users[0]).await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("{requests}/{}/approve", users[0]),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["statusCode"], 409);
    assert_eq!(body["error"], "Conflict");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already a member"),
        "{body}"
    );
    // Denying ends a request, once; the user is no member.
    for user_id in &users {
        let path = format!("{requests}/{user_id}");
        let (status, _) = app.api(Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = app.api(Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        not_found(&body, "inexistent_join_request");
    }
    assert!(!is_member(&app, &token, &org, &users[1]).await);
    // Reading needs read:organization_members.
    let weak = app.token_with_scopes(&token, &["read:organizations"]).await;
    let (status, _) = app.api(Method::GET, &requests, &weak, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A bad policy is a 400 in the API's shape.
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/organizations/{org}"),
            &token,
            Some(json!({"domain_membership": "everyone"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["statusCode"], 400);
}

async fn an_unverified_email_or_domain_joins_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let (t, token) = picker_tenant(&app).await;
    let acme = create_org(
        &app,
        &t,
        &token,
        "acme",
        "auto",
        Some(("acme.example", "verified")),
    )
    .await;
    let pending = create_org(
        &app,
        &t,
        &token,
        "pending",
        "auto",
        Some(("pending.example", "pending")),
    )
    .await;
    let off = create_org(
        &app,
        &t,
        &token,
        "quiet",
        "off",
        Some(("quiet.example", "verified")),
    )
    .await;
    // Mallory registers acme's domain in the password database: her email
    // is not verified, so acme's domain proves nothing about her.
    let mallory = create_user(&app, &token, "mallory@acme.example", false).await;
    // Someone of a domain acme has not verified; someone of an organization
    // that lets nobody join by domain.
    let pat = create_user(&app, &token, "pat@pending.example", true).await;
    let quinn = create_user(&app, &token, "quinn@quiet.example", true).await;
    for (email, user_id, target) in [
        ("mallory@acme.example", &mallory, &acme),
        ("pat@pending.example", &pat, &pending),
        ("quinn@quiet.example", &quinn, &off),
    ] {
        // With nothing to pick or join: access_denied, as before.
        let b = browser();
        let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
        let next = log_in(&app, &b, start, email, PASSWORD).await;
        let response = b.get(app.url(&next)).send().await.unwrap();
        let to = location(&response);
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some("access_denied"),
            "{email}: {to}"
        );
        // With another organization to pick, the target is neither listed
        // nor joinable by posting its id.
        add_member(&app, &token, &t.other_org_id, user_id).await;
        let (b, html) = picker(&app, &t, email).await;
        assert_eq!(buttons(&html), [t.other_org_id.as_str()], "{email}");
        for action in ["", "join", "request"] {
            let response = pick(&app, &b, &html, target, action).await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{email} {action}"
            );
        }
        assert!(!is_member(&app, &token, target, user_id).await, "{email}");
        let (_, listed) = app
            .api(
                Method::GET,
                &format!("/api/v2/organizations/{target}/join_requests"),
                &token,
                None,
            )
            .await;
        assert_eq!(listed, json!([]));
    }
}
