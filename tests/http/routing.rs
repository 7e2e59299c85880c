//! Home-realm discovery at the identifier step: the email's verified domain
//! (an organization's discovery domain) or a connection's `domain_aliases`
//! decides where the login goes, in an organization's login and without
//! one; `login_hint` skips the email page; `pre_login_prompt` finds the
//! organization by email. The upstream here is this server itself (a real
//! OIDC provider on loopback): the login is seen leaving for its
//! `/authorize` with the email as `login_hint`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    ALICE, CALLBACK, Tenant, authorize, browser, claims, code_params, hidden, location,
    query_param, redeem_code, redirect_error, signup_tenant, submit_identifier, tenant,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    an_organizations_bound_domain_sends_the_email_to_its_idp,
    another_organizations_domain_decides_nothing_in_this_one,
    aliases_route_at_tenant_level_and_other_domains_use_the_database,
    an_unknown_domain_without_a_database_says_so,
    a_username_takes_the_password_path,
    a_verified_domain_logs_in_to_its_organization_without_one_requested,
    the_domains_organization_keeps_only_its_members,
    a_client_denying_organizations_takes_only_the_bound_connection,
    login_hint_skips_the_email_page,
    pre_login_prompt_finds_the_organization_by_email,
    organization_discovery_methods_are_validated_as_auth0,
    signing_up_follows_the_typed_emails_domain,
);

/// An OIDC connection (`acme-sso`, hidden from the login page) whose
/// upstream is this server, enabled for `clients`; its id.
async fn upstream_connection(app: &TestApp, clients: &[&str], aliases: &[&str]) -> String {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(
                json!({"name": "acme-sso", "strategy": "oidc", "display_name": "Acme SSO",
                "show_as_button": false, "enabled_clients": clients,
                "options": {"issuer": app.issuer, "client_id": "switchyard",
                    "client_secret": "s3cret", "domain_aliases": aliases}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Enables `connection_id` on an organization, hidden from its login page.
async fn enable_hidden(app: &TestApp, org_id: &str, connection_id: &str) {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org_id}/enabled_connections"),
            &token,
            Some(
                json!({"connection_id": connection_id, "show_as_button": false,
                "assign_membership_on_login": true}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A verified discovery domain of `org_id`, bound to `connection_id`.
async fn verified_domain(app: &TestApp, org_id: &str, domain: &str, connection_id: Option<&str>) {
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org_id}/discovery-domains"),
            &token,
            Some(json!({"domain": domain, "status": "verified", "connection_id": connection_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Where the page the identifier step shows before leaving for an upstream
/// sends the browser (`None`: the response is no such page).
async fn upstream_url(response: reqwest::Response) -> Option<String> {
    if response.status() != StatusCode::OK {
        return None;
    }
    let html = response.text().await.unwrap();
    let marker = "class=\"button\" href=\"";
    let start = html.find(marker)? + marker.len();
    let url = &html[start..];
    let url = &url[..url.find('"')?];
    Some(url.replace("&#38;", "&").replace("&amp;", "&"))
}

/// Asserts the login left for this server's `/authorize` as the upstream,
/// with `email` as its `login_hint`.
fn assert_sent_upstream(app: &TestApp, url: Option<&str>, email: &str) {
    let url = url.unwrap_or_else(|| panic!("not sent upstream"));
    let authorize = format!("{}/authorize?", app.issuer.trim_end_matches('/'));
    assert!(url.starts_with(&authorize), "{url}");
    assert_eq!(query_param(url, "client_id").as_deref(), Some("switchyard"));
    assert_eq!(query_param(url, "login_hint").as_deref(), Some(email));
}

/// A new browser's identifier step for `email`, after an `/authorize`
/// with `params`: the browser, its transaction (state, csrf) and the
/// step's response.
async fn identify(
    app: &TestApp,
    params: &[(&str, &str)],
    email: &str,
) -> (reqwest::Client, (String, String), reqwest::Response) {
    let b = browser();
    let start = authorize(app, &b, params).await;
    let (transaction, response) = submit_identifier(app, &b, start, email).await;
    (b, transaction, response)
}

/// Asserts the identifier step asked for the password.
fn assert_asks_for_password(response: &reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(response).starts_with("/u/login/password"));
}

async fn code_tokens(app: &TestApp, t: &Tenant, callback: &str) -> Value {
    let code = query_param(callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    redeem_code(app, t, &code, None).await
}

/// The password step after an identifier step that asked for it.
async fn password_step(
    app: &TestApp,
    b: &reqwest::Client,
    (state, csrf): (&str, &str),
    password: &str,
) -> reqwest::Response {
    b.post(app.url("/u/login/password"))
        .form(&[("state", state), ("csrf", csrf), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn an_organizations_bound_domain_sends_the_email_to_its_idp(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let sso = upstream_connection(&app, &[&t.client_id], &[]).await;
    enable_hidden(&app, &t.org_id, &sso).await;
    verified_domain(&app, &t.org_id, "acme.example", Some(&sso)).await;
    let in_org = code_params(&t.client_id, &[("organization", &t.org_id)]);

    // No account yet (just-in-time): the domain decides, not the user.
    let (_, _, response) = identify(&app, &in_org, "Ana@ACME.example").await;
    assert_sent_upstream(
        &app,
        upstream_url(response).await.as_deref(),
        "ana@acme.example",
    );

    // The hidden connection is no button: only its domain reaches it.
    let b = browser();
    let start = authorize(&app, &b, &in_org).await;
    let html = b
        .get(app.url(&location(&start)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Acme SSO"), "{html}");

    // Another domain: the organization's database connection.
    let (_, _, response) = identify(&app, &in_org, ALICE.0).await;
    assert_asks_for_password(&response);
}

async fn another_organizations_domain_decides_nothing_in_this_one(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let sso = upstream_connection(&app, &[&t.client_id], &[]).await;
    enable_hidden(&app, &t.other_org_id, &sso).await;
    verified_domain(&app, &t.other_org_id, "acme.example", Some(&sso)).await;
    let b = browser();
    let start = authorize(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", &t.org_id)]),
    )
    .await;
    let (_, response) = submit_identifier(&app, &b, start, "ana@acme.example").await;
    assert_asks_for_password(&response);
}

async fn aliases_route_at_tenant_level_and_other_domains_use_the_database(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    upstream_connection(&app, &[&t.client_id], &["Globex.Example"]).await;
    let params = code_params(&t.client_id, &[]);
    let (_, _, response) = identify(&app, &params, "ana@globex.example").await;
    assert_sent_upstream(
        &app,
        upstream_url(response).await.as_deref(),
        "ana@globex.example",
    );
    // An alias is the exact name: not its subdomains.
    for email in ["ana@eu.globex.example", "ana@unknown.example"] {
        let (_, _, response) = identify(&app, &params, email).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email}");
        assert!(location(&response).starts_with("/u/login/password"));
    }
}

async fn an_unknown_domain_without_a_database_says_so(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    // The database connection serves the other clients only.
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{}", t.connection_id),
            &token,
            Some(json!({"enabled_clients": [t.public_client_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    upstream_connection(&app, &[&t.client_id], &["globex.example"]).await;
    let (_, _, response) =
        identify(&app, &code_params(&t.client_id, &[]), "ana@unknown.example").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("No account for the domain unknown.example"),
        "{html}"
    );
    // The page asks again, the email can be corrected.
    assert!(html.contains("name=\"email\""), "{html}");
}

async fn a_username_takes_the_password_path(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let sso = upstream_connection(&app, &[&t.client_id], &["hoekstra.example"]).await;
    enable_hidden(&app, &t.org_id, &sso).await;
    for params in [
        code_params(&t.client_id, &[]),
        code_params(&t.client_id, &[("organization", &t.org_id)]),
    ] {
        let (b, (state, csrf), response) = identify(&app, &params, " Alice ").await;
        assert_asks_for_password(&response);
        let refused = password_step(&app, &b, (&state, &csrf), ALICE.1).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let html = refused.text().await.unwrap();
        assert!(html.contains("Wrong email or password."), "{html}");
    }
    // Spaces inside are no username.
    let (_, _, response) = identify(&app, &code_params(&t.client_id, &[]), "al ice").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

async fn a_verified_domain_logs_in_to_its_organization_without_one_requested(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    verified_domain(&app, &t.org_id, "hoekstra.example", None).await;
    let (b, transaction, response) = identify(&app, &code_params(&t.client_id, &[]), ALICE.0).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let done = password_step(&app, &b, (&transaction.0, &transaction.1), ALICE.1).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let tokens = code_tokens(&app, &t, &location(&done)).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["org_id"], t.org_id.as_str(), "{id_token}");
    assert_eq!(id_token["org_name"], "hoekstra", "{id_token}");

    // The domain's organization went upstream too (a connection bound to it).
    let sso = upstream_connection(&app, &[&t.client_id], &[]).await;
    enable_hidden(&app, &t.org_id, &sso).await;
    verified_domain(&app, &t.org_id, "acme.example", Some(&sso)).await;
    let (_, _, response) =
        identify(&app, &code_params(&t.client_id, &[]), "ana@acme.example").await;
    assert_sent_upstream(
        &app,
        upstream_url(response).await.as_deref(),
        "ana@acme.example",
    );

    // Not enabled on the organization, the bound connection is never followed.
    let token = app.admin_token().await;
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!(
                "/api/v2/organizations/{}/enabled_connections/{sso}",
                t.org_id
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, response) =
        identify(&app, &code_params(&t.client_id, &[]), "ana@acme.example").await;
    assert_asks_for_password(&response);
}

async fn the_domains_organization_keeps_only_its_members(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    // metahexa does not assign membership on login, and alice is no member:
    // her password login is not refused, it goes on without the organization.
    verified_domain(&app, &t.other_org_id, "hoekstra.example", None).await;
    let (b, transaction, _) = identify(&app, &code_params(&t.client_id, &[]), ALICE.0).await;
    let done = password_step(&app, &b, (&transaction.0, &transaction.1), ALICE.1).await;
    assert!(location(&done).starts_with(CALLBACK));
    assert_eq!(redirect_error(&done), None);
    let tokens = code_tokens(&app, &t, &location(&done)).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert!(id_token.get("org_id").is_none(), "{id_token}");

    // "Use another email": the new email's domain chooses again (alice's
    // own is no organization's now).
    let token = app.admin_token().await;
    let (_, domains) = app
        .api(
            Method::GET,
            &format!("/api/v2/organizations/{}/discovery-domains", t.other_org_id),
            &token,
            None,
        )
        .await;
    let listed = domains.get("domains").unwrap_or(&domains);
    let claimed = listed[0]["id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = app
        .api(
            Method::DELETE,
            &format!(
                "/api/v2/organizations/{}/discovery-domains/{claimed}",
                t.other_org_id
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{domains} {body}");
    verified_domain(&app, &t.other_org_id, "acme.example", None).await;
    let (b, (state, csrf), first) =
        identify(&app, &code_params(&t.client_id, &[]), "ana@acme.example").await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let again = b
        .post(app.url("/u/login"))
        .form(&[
            ("state", state.as_str()),
            ("csrf", csrf.as_str()),
            ("email", ALICE.0),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let done = password_step(&app, &b, (&state, &csrf), ALICE.1).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let tokens = code_tokens(&app, &t, &location(&done)).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert!(id_token.get("org_id").is_none(), "{id_token}");
}

async fn a_client_denying_organizations_takes_only_the_bound_connection(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(json!({"organization_usage": "deny"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Bound to the organization's default: the login takes no organization.
    verified_domain(&app, &t.org_id, "hoekstra.example", None).await;
    let (b, transaction, _) = identify(&app, &code_params(&t.client_id, &[]), ALICE.0).await;
    let done = password_step(&app, &b, (&transaction.0, &transaction.1), ALICE.1).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let tokens = code_tokens(&app, &t, &location(&done)).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert!(id_token.get("org_id").is_none(), "{id_token}");

    // Bound to a connection the client may use: followed, without the organization.
    let sso = upstream_connection(&app, &[&t.client_id], &[]).await;
    enable_hidden(&app, &t.org_id, &sso).await;
    verified_domain(&app, &t.org_id, "acme.example", Some(&sso)).await;
    let (_, _, response) =
        identify(&app, &code_params(&t.client_id, &[]), "ana@acme.example").await;
    assert_sent_upstream(
        &app,
        upstream_url(response).await.as_deref(),
        "ana@acme.example",
    );
    // Not enabled for the client: not followed.
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{sso}"),
            &token,
            Some(json!({"enabled_clients": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, response) =
        identify(&app, &code_params(&t.client_id, &[]), "ana@acme.example").await;
    assert_asks_for_password(&response);
}

async fn login_hint_skips_the_email_page(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let b = browser();
    let start = authorize(
        &app,
        &b,
        &code_params(&t.client_id, &[("login_hint", ALICE.0)]),
    )
    .await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let skipped = b.get(app.url(&location(&start))).send().await.unwrap();
    assert_eq!(skipped.status(), StatusCode::SEE_OTHER);
    let password_page = location(&skipped);
    assert!(
        password_page.starts_with("/u/login/password"),
        "{password_page}"
    );
    let html = b
        .get(app.url(&password_page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(ALICE.0), "{html}");
    // "Use another email" shows the email page.
    let state = hidden(&html, "state");
    let page = b
        .get(app.url(&format!("/u/login?state={state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("name=\"email\""));

    // A hinted email whose domain has an IdP goes straight there, hint and all.
    let sso = upstream_connection(&app, &[&t.client_id], &[]).await;
    enable_hidden(&app, &t.org_id, &sso).await;
    verified_domain(&app, &t.org_id, "acme.example", Some(&sso)).await;
    let b = browser();
    let start = authorize(
        &app,
        &b,
        &code_params(&t.client_id, &[("login_hint", "ana@acme.example")]),
    )
    .await;
    let upstream = b.get(app.url(&location(&start))).send().await.unwrap();
    assert_eq!(upstream.status(), StatusCode::SEE_OTHER);
    assert_sent_upstream(&app, Some(&location(&upstream)), "ana@acme.example");
}

async fn pre_login_prompt_finds_the_organization_by_email(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(json!({"organization_usage": "require",
                "organization_require_behavior": "pre_login_prompt",
                "organization_discovery_methods": ["email", "organization_name"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    verified_domain(&app, &t.org_id, "hoekstra.example", None).await;
    let prompt = async |b: &reqwest::Client, answer: &str| {
        let start = authorize(&app, b, &code_params(&t.client_id, &[])).await;
        let to_org = b.get(app.url(&location(&start))).send().await.unwrap();
        let html = b
            .get(app.url(&location(&to_org)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("Organization name or email address"),
            "{html}"
        );
        let (state, csrf) = (hidden(&html, "state"), hidden(&html, "csrf"));
        let response = b
            .post(app.url("/u/organization"))
            .form(&[
                ("state", state.as_str()),
                ("csrf", csrf.as_str()),
                ("organization", answer),
            ])
            .send()
            .await
            .unwrap();
        ((state, csrf), response)
    };
    let b = browser();
    let ((state, csrf), found) = prompt(&b, ALICE.0).await;
    assert_eq!(found.status(), StatusCode::SEE_OTHER);
    // The email's identifier step runs at once: on to the password.
    let identified = b.get(app.url(&location(&found))).send().await.unwrap();
    assert_asks_for_password(&identified);
    let done = password_step(&app, &b, (&state, &csrf), ALICE.1).await;
    let tokens = code_tokens(&app, &t, &location(&done)).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["org_id"], t.org_id.as_str(), "{id_token}");

    // A name still works; an email of no organization's domain is refused.
    let (_, by_name) = prompt(&browser(), "metahexa").await;
    assert_eq!(by_name.status(), StatusCode::SEE_OTHER);
    let (_, unknown) = prompt(&browser(), "ana@nowhere.example").await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let html = unknown.text().await.unwrap();
    assert!(html.contains("No organization uses the domain"), "{html}");

    // By name only (the default): an email is taken as a name, and not found.
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &token,
            Some(json!({"organization_discovery_methods": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let to_org = b.get(app.url(&location(&start))).send().await.unwrap();
    let html = b
        .get(app.url(&location(&to_org)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Enter the name of your organization"),
        "{html}"
    );
    let refused = b
        .post(app.url("/u/organization"))
        .form(&[
            ("state", hidden(&html, "state").as_str()),
            ("csrf", hidden(&html, "csrf").as_str()),
            ("organization", ALICE.0),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("No organization has that name")
    );
}

async fn organization_discovery_methods_are_validated_as_auth0(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(json!({"name": "Prompted", "organization_discovery_methods": ["email"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["organization_discovery_methods"], json!(["email"]));
    let path = format!("/api/v2/clients/{}", created["client_id"].as_str().unwrap());
    let (_, got) = app.api(Method::GET, &path, &token, None).await;
    assert_eq!(got["organization_discovery_methods"], json!(["email"]));
    for bad in [
        json!([]),
        json!(["email", "email"]),
        json!(["phone"]),
        json!("email"),
    ] {
        let (status, body) = app
            .api(
                Method::PATCH,
                &path,
                &token,
                Some(json!({ "organization_discovery_methods": bad })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["statusCode"], 400, "{body}");
    }
    let (status, both) = app
        .api(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"organization_discovery_methods": ["organization_name", "email"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{both}");
    assert_eq!(
        both["organization_discovery_methods"],
        json!(["organization_name", "email"])
    );
    // `null` resets it: left out again (by the organization's name).
    let (_, reset) = app
        .api(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"organization_discovery_methods": null})),
        )
        .await;
    assert!(
        reset.get("organization_discovery_methods").is_none(),
        "{reset}"
    );
}

/// Posts the sign-up form of the transaction (state, csrf).
async fn sign_up(
    app: &TestApp,
    b: &reqwest::Client,
    (state, csrf): (&str, &str),
    email: &str,
) -> reqwest::Response {
    b.post(app.url("/u/signup"))
        .form(&[
            ("state", state),
            ("csrf", csrf),
            ("email", email),
            ("password", "correct horse battery staple 42"),
        ])
        .send()
        .await
        .unwrap()
}

async fn signing_up_follows_the_typed_emails_domain(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    let sso = upstream_connection(&app, &[&t.client_id], &[]).await;
    enable_hidden(&app, &t.org_id, &sso).await;
    verified_domain(&app, &t.org_id, "acme.example", Some(&sso)).await;
    verified_domain(&app, &t.org_id, "hoekstra.example", None).await;

    // An email whose verified domain routes to an identity provider signs
    // in there: no password account is made for it.
    let b = browser();
    let start = authorize(&app, &b, &code_params(&t.client_id, &[])).await;
    let (transaction, _) = submit_identifier(&app, &b, start, "zed@elsewhere.example").await;
    let refused = sign_up(
        &app,
        &b,
        (&transaction.0, &transaction.1),
        "ana@acme.example",
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Sign-up is not available here."), "{html}");

    // The organization an earlier email's domain chose is not inherited by
    // a sign-up with another email: the new account is no member of it.
    let (b, transaction, response) = identify(&app, &code_params(&t.client_id, &[]), ALICE.0).await;
    assert_asks_for_password(&response);
    let done = sign_up(
        &app,
        &b,
        (&transaction.0, &transaction.1),
        "eve@elsewhere.example",
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(location(&done).starts_with(CALLBACK), "{}", location(&done));
    let tokens = code_tokens(&app, &t, &location(&done)).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], "eve@elsewhere.example", "{id_token}");
    assert!(id_token.get("org_id").is_none(), "{id_token}");
}
