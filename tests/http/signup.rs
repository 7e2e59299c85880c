//! Sign-up in universal login and brute-force protection of password
//! logins, driven through the pages as a browser would.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oidc::{
    CALLBACK, authorize, browser, claims, code_form, code_params, hidden, location, log_in,
    log_in_alice, query_param, redeem, signup_tenant,
};
use crate::support::{Backend, TestApp, spawn, spawn_configured};

on_both_backends!(
    signup_in_an_organization_makes_a_member_with_an_org_token,
    signup_is_refused_where_it_is_not_enabled,
    weak_passwords_are_refused_with_the_policy,
    existing_emails_are_neither_overwritten_nor_revealed,
    signup_form_resists_forgery_and_other_browsers,
    accounts_lock_after_ten_failures,
    addresses_are_limited_to_a_hundred_failures,
    sign_ups_count_against_the_address_whatever_their_outcome,
);

/// A page's status, body, and its form's transaction id and CSRF token.
struct Page {
    status: StatusCode,
    body: String,
    state: String,
    csrf: String,
}

async fn get_page(browser: &reqwest::Client, url: &str) -> Page {
    let response = browser.get(url).send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    Page {
        status,
        state: hidden(&body, "state"),
        csrf: hidden(&body, "csrf"),
        body,
    }
}

/// Opens `/authorize?…&screen_hint=signup` and the sign-up page it leads to.
async fn signup_page(app: &TestApp, browser: &reqwest::Client, params: &[(&str, &str)]) -> Page {
    let mut params = params.to_vec();
    // prompt=login: the browser may hold a session from an earlier sign-up.
    params.extend([("screen_hint", "signup"), ("prompt", "login")]);
    let start = authorize(app, browser, &params).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let to = location(&start);
    assert!(to.starts_with("/u/signup?state="), "{to}");
    get_page(browser, &app.url(&to)).await
}

/// Posts the sign-up form; returns the status, the Location (if any) and the body.
async fn post_signup(
    app: &TestApp,
    browser: &reqwest::Client,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let response = browser
        .post(app.url("/u/signup"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let to = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, to, response.text().await.unwrap())
}

async fn sign_up(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &Page,
    email: &str,
    password: &str,
) -> (StatusCode, String, String) {
    post_signup(
        app,
        browser,
        &[
            ("state", &page.state),
            ("csrf", &page.csrf),
            ("email", email),
            ("password", password),
        ],
    )
    .await
}

/// The users with this email (Management API).
async fn users_by_email(app: &TestApp, email: &str) -> Vec<Value> {
    let token = app.admin_token().await;
    let (status, users) = app
        .api(
            Method::GET,
            &format!("/api/v2/users-by-email?email={email}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{users}");
    users.as_array().unwrap().clone()
}

async fn signup_in_an_organization_makes_a_member_with_an_org_token(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    let b = browser();
    let params = code_params(&t.client_id, &[("organization", "hoekstra")]);
    let page = signup_page(&app, &b, &params).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Sign up to hoekstra"), "{}", page.body);
    assert!(page.body.contains("at least 8 characters"), "{}", page.body);

    let (status, to, body) = sign_up(
        &app,
        &b,
        &page,
        " New.Person@Hoekstra.EXAMPLE ",
        "a-long-password",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"));
    let code = query_param(&to, "code").unwrap();
    let (status, tokens) = redeem(&app, &code_form(&t, &code)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["org_id"], t.org_id.as_str());
    assert_eq!(id_token["email"], "new.person@hoekstra.example");

    // The user exists, normalized, in the connection, and is a member.
    let users = users_by_email(&app, "new.person@hoekstra.example").await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["user_id"], id_token["sub"]);
    assert_eq!(users[0]["identities"][0]["connection"], "users");
    let token = app.admin_token().await;
    let (_, members) = app
        .api(
            Method::GET,
            &format!("/api/v2/organizations/{}/members", t.org_id),
            &token,
            None,
        )
        .await;
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == id_token["sub"]),
        "{members}"
    );

    // The new account logs in with its password (in a browser without the
    // session the sign-up started).
    let b = browser();
    let start = authorize(&app, &b, &params).await;
    let callback = log_in(
        &app,
        &b,
        start,
        "new.person@hoekstra.example",
        "a-long-password",
    )
    .await;
    assert!(query_param(&callback, "code").is_some(), "{callback}");

    // Without screen_hint the login page opens, with its link to sign up.
    let b = browser();
    let start = authorize(&app, &b, &params).await;
    let to = location(&start);
    assert!(to.starts_with("/u/login?state="), "{to}");
    let login = get_page(&b, &app.url(&to)).await;
    assert!(
        login
            .body
            .contains(&format!("href=\"/u/signup?state={}\"", login.state)),
        "{}",
        login.body
    );
}

async fn signup_is_refused_where_it_is_not_enabled(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    let b = browser();

    // metahexa: no link, the sign-up page leads to the login page, and a
    // posted sign-up form is refused.
    let params = code_params(&t.client_id, &[("organization", &t.other_org_id)]);
    let start = authorize(&app, &b, &params).await;
    let login = get_page(&b, &app.url(&location(&start))).await;
    assert!(!login.body.contains("/u/signup"), "{}", login.body);
    let mut hinted = params.clone();
    hinted.push(("screen_hint", "signup"));
    let start = authorize(&app, &b, &hinted).await;
    let to = location(&start);
    assert!(to.starts_with("/u/signup?state="), "{to}");
    let response = b.get(app.url(&to)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/u/login?state="));
    let (status, _, body) =
        sign_up(&app, &b, &login, "eve@metahexa.example", "a-long-password").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("Sign-up is not available here."), "{body}");
    assert!(!body.contains("name=\"password\""), "no form: {body}");
    assert!(
        users_by_email(&app, "eve@metahexa.example")
            .await
            .is_empty()
    );

    // Without an organization the connection decides: sign-up is allowed
    // until `options.disable_signup` is set.
    let params = code_params(&t.client_id, &[]);
    let page = signup_page(&app, &b, &params).await;
    assert_eq!(page.status, StatusCode::OK);
    let token = app.admin_token().await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{}", t.connection_id),
            &token,
            Some(json!({"options": {"disable_signup": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = sign_up(&app, &b, &page, "eve@example.com", "a-long-password").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(users_by_email(&app, "eve@example.com").await.is_empty());
    let start = authorize(&app, &b, &params).await;
    let login = get_page(&b, &app.url(&location(&start))).await;
    assert!(!login.body.contains("/u/signup"), "{}", login.body);
}

async fn weak_passwords_are_refused_with_the_policy(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    let token = app.admin_token().await;
    app.api(
        Method::PATCH,
        &format!("/api/v2/connections/{}", t.connection_id),
        &token,
        Some(json!({"options": {"passwordPolicy": "excellent"}})),
    )
    .await;
    let b = browser();
    let page = signup_page(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    assert!(
        page.body.contains("at least 10 characters"),
        "{}",
        page.body
    );
    let (status, to, body) = sign_up(&app, &b, &page, "weak@hoekstra.example", "nine-char").await;
    assert_eq!((status, to.as_str()), (StatusCode::BAD_REQUEST, ""));
    assert!(
        body.contains("Your password is too weak. It must contain at least 10 characters"),
        "{body}"
    );
    assert!(
        body.contains("name=\"password\""),
        "the form is shown again"
    );
    assert!(
        users_by_email(&app, "weak@hoekstra.example")
            .await
            .is_empty()
    );
    // Long enough but of two kinds of characters only: `excellent` wants three.
    let (status, _, body) = sign_up(&app, &b, &page, "weak@hoekstra.example", "ten-chars!").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("with three of"), "{body}");
    // The same transaction then succeeds with a strong enough password.
    let (status, to, _) = sign_up(&app, &b, &page, "weak@hoekstra.example", "Ten-chars!").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(query_param(&to, "code").is_some(), "{to}");
}

/// A sign-up page's body with what differs between transactions and typed
/// emails taken out.
fn comparable(page: &Page, body: &str, email: &str) -> String {
    body.replace(&page.state, "STATE")
        .replace(&page.csrf, "CSRF")
        .replace(email, "EMAIL")
}

async fn existing_emails_are_neither_overwritten_nor_revealed(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    let b = browser();
    let params = code_params(&t.client_id, &[("organization", "hoekstra")]);
    let alice = users_by_email(&app, "alice@hoekstra.example").await;

    // Alice's email with a new password, with her own password, and bob's:
    // the same page, the same status; nobody is signed in.
    let mut outcomes = Vec::new();
    for (email, password) in [
        ("Alice@hoekstra.example", "a-new-password"),
        ("alice@hoekstra.example", "alice-password-1"),
        ("bob@hoekstra.example", "a-new-password"),
    ] {
        let page = signup_page(&app, &b, &params).await;
        let (status, to, body) = sign_up(&app, &b, &page, email, password).await;
        assert_eq!(
            (status, to.as_str()),
            (StatusCode::BAD_REQUEST, ""),
            "{body}"
        );
        assert!(
            body.contains("Something went wrong, please try again."),
            "{body}"
        );
        assert!(!body.to_lowercase().contains("exist"), "{body}");
        outcomes.push(comparable(&page, &body, email));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0], outcomes[2]);

    // Nothing was overwritten: one alice, the same user, her old password works.
    assert_eq!(users_by_email(&app, "alice@hoekstra.example").await, alice);
    let b = browser();
    let start = authorize(&app, &b, &params).await;
    let callback = log_in_alice(&app, &b, start).await;
    assert!(query_param(&callback, "code").is_some(), "{callback}");
    let b = browser();
    let start = authorize(&app, &b, &params).await;
    let callback = log_in(&app, &b, start, "alice@hoekstra.example", "a-new-password").await;
    assert!(callback.starts_with("status 401"), "{callback}");
}

async fn signup_form_resists_forgery_and_other_browsers(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    let b = browser();
    let page = signup_page(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    let email = "mallory@hoekstra.example";
    for csrf in [None, Some("forged"), Some("")] {
        let mut form = vec![
            ("state", page.state.as_str()),
            ("email", email),
            ("password", "a-long-password"),
        ];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let (status, to, body) = post_signup(&app, &b, &form).await;
        assert_eq!(
            (status, to.as_str()),
            (StatusCode::FORBIDDEN, ""),
            "{csrf:?}: {body}"
        );
    }
    // Another browser (no cookie) cannot use the transaction, CSRF token and all.
    let (status, to, _) = sign_up(&app, &browser(), &page, email, "a-long-password").await;
    assert_eq!((status, to.as_str()), (StatusCode::BAD_REQUEST, ""));
    let response = browser()
        .get(app.url(&format!("/u/signup?state={}", page.state)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(users_by_email(&app, email).await.is_empty());
    // The page is not framable and not cached.
    let response = b
        .get(app.url(&format!("/u/signup?state={}", page.state)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

/// Goes through `/authorize` and the identifier page to the password form;
/// returns its transaction id and CSRF token.
async fn password_form(
    app: &TestApp,
    browser: &reqwest::Client,
    client_id: &str,
    email: &str,
) -> (String, String) {
    let start = authorize(
        app,
        browser,
        &code_params(client_id, &[("prompt", "login")]),
    )
    .await;
    let page = get_page(browser, &app.url(&location(&start))).await;
    let response = browser
        .post(app.url("/u/login"))
        .form(&[
            ("state", &page.state),
            ("csrf", &page.csrf),
            ("email", &email.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    (page.state, page.csrf)
}

/// Posts a password.
async fn send_password(
    app: &TestApp,
    browser: &reqwest::Client,
    (state, csrf): &(String, String),
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = browser.post(app.url("/u/login/password")).form(&[
        ("state", state.as_str()),
        ("csrf", csrf),
        ("password", password),
    ]);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

/// Posts a password; returns the status and the body (or the Location).
async fn post_password(
    app: &TestApp,
    browser: &reqwest::Client,
    form: &(String, String),
    password: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, String) {
    let response = send_password(app, browser, form, password, forwarded_for).await;
    let status = response.status();
    match status {
        StatusCode::SEE_OTHER => (status, location(&response)),
        _ => (status, response.text().await.unwrap()),
    }
}

const TOO_MANY: &str = "Too many failed attempts. Try again later.";

async fn accounts_lock_after_ten_failures(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    let b = browser();

    // A success resets the count: 9 failures, success, 9 failures, success.
    for _ in 0..2 {
        let form = password_form(&app, &b, &t.client_id, "bob@hoekstra.example").await;
        for _ in 0..9 {
            let (status, _) = post_password(&app, &b, &form, "wrong", None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, to) = post_password(&app, &b, &form, "bob-password-1", None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
        assert!(query_param(&to, "code").is_some());
    }

    // Ten failures lock alice out: the eleventh attempt is refused even with
    // her password, which is not even checked.
    let form = password_form(&app, &b, &t.client_id, "alice@hoekstra.example").await;
    for i in 0..10 {
        let (status, body) = post_password(&app, &b, &form, "wrong", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
        assert!(body.contains("Wrong email or password"));
    }
    let response = send_password(&app, &b, &form, "alice-password-1", None).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // The account's lockout ends within 15 minutes.
    assert_eq!(response.headers()["retry-after"], "900");
    let body = response.text().await.unwrap();
    assert!(body.contains(TOO_MANY), "{body}");
    // In a new transaction and another browser too: the lock is the account's.
    let other = browser();
    let form = password_form(&app, &other, &t.client_id, "Alice@Hoekstra.example").await;
    let (status, _) = post_password(&app, &other, &form, "alice-password-1", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Another account is not affected.
    let form = password_form(&app, &b, &t.client_id, "bob@hoekstra.example").await;
    let (status, to) = post_password(&app, &b, &form, "bob-password-1", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");

    // An email without an account locks the same way: lockout tells nothing.
    let form = password_form(&app, &b, &t.client_id, "nobody@hoekstra.example").await;
    for _ in 0..10 {
        let (status, _) = post_password(&app, &b, &form, "wrong", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = post_password(&app, &b, &form, "wrong", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains(TOO_MANY));
}

/// 100 failures from one address: attempts refused by an account's lockout
/// count too (they are failures, and cost no argon2), so 10 wrong passwords
/// and 90 refused attempts reach the limit.
async fn hammer(app: &TestApp, client_id: &str, attempts: usize, forwarded_for: Option<&str>) {
    let b = browser();
    let form = password_form(app, &b, client_id, "alice@hoekstra.example").await;
    for _ in 0..attempts {
        let (status, _) = post_password(app, &b, &form, "wrong", forwarded_for).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
}

async fn addresses_are_limited_to_a_hundred_failures(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    hammer(&app, &t.client_id, 99, None).await;
    // The 100th attempt is still allowed by the address (bob's success gives it back) …
    let b = browser();
    let form = password_form(&app, &b, &t.client_id, "bob@hoekstra.example").await;
    let (status, to) = post_password(&app, &b, &form, "bob-password-1", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    hammer(&app, &t.client_id, 1, None).await;
    // … the 101st is not, for any account, whatever X-Forwarded-For claims
    // (no trusted proxy is configured).
    let form = password_form(&app, &b, &t.client_id, "bob@hoekstra.example").await;
    let response = send_password(&app, &b, &form, "bob-password-1", None).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // The address's window is an hour.
    assert_eq!(response.headers()["retry-after"], "3600");
    let body = response.text().await.unwrap();
    assert!(body.contains(TOO_MANY), "{body}");
    let (status, _) = post_password(&app, &b, &form, "bob-password-1", Some("203.0.113.7")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Sign-up from that address is refused too.
    let page = signup_page(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    let (status, _, body) =
        sign_up(&app, &b, &page, "new@hoekstra.example", "a-long-password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        users_by_email(&app, "new@hoekstra.example")
            .await
            .is_empty()
    );

    // Behind a trusted proxy, the address it forwards is the client's.
    let app = spawn_configured(backend, |config| config.trust_forwarded_for = true).await;
    let t = signup_tenant(&app).await;
    hammer(&app, &t.client_id, 100, Some("198.51.100.1, 203.0.113.1")).await;
    let form = password_form(&app, &b, &t.client_id, "bob@hoekstra.example").await;
    let (status, _) = post_password(&app, &b, &form, "bob-password-1", Some("203.0.113.1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, to) = post_password(&app, &b, &form, "bob-password-1", Some("203.0.113.2")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
}

async fn sign_ups_count_against_the_address_whatever_their_outcome(backend: Backend) {
    let app = spawn(backend).await;
    let t = signup_tenant(&app).await;
    hammer(&app, &t.client_id, 99, None).await;
    // The 100th attempt is a successful sign-up: it counts all the same
    // (a password login's success gives its attempt back, a sign-up's not).
    let b = browser();
    let page = signup_page(
        &app,
        &b,
        &code_params(&t.client_id, &[("organization", "hoekstra")]),
    )
    .await;
    let (status, to, body) =
        sign_up(&app, &b, &page, "carol@hoekstra.example", "a-long-password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to} {body}");
    assert_eq!(
        users_by_email(&app, "carol@hoekstra.example").await.len(),
        1
    );
    // So the address is at its limit: even bob's right password is refused.
    let form = password_form(&app, &b, &t.client_id, "bob@hoekstra.example").await;
    let (status, _) = post_password(&app, &b, &form, "bob-password-1", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
