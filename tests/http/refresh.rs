//! Refresh tokens: rotation, reuse detection revoking the family, binding to
//! client and organization, and a replayed code revoking what it issued.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::oidc::{
    CALLBACK, Tenant, alice_code, claims, code_form, code_params, other_confidential_client,
    redeem, tenant, token_state, userinfo_of, with_scope,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    refresh_tokens_rotate_and_a_reused_one_revokes_the_family,
    refresh_tokens_are_bound_to_client_and_organization,
    a_replayed_code_revokes_what_it_issued,
    refresh_tokens_need_offline_access_and_the_grant,
    concurrent_uses_of_one_refresh_token_rotate_once,
    administrators_list_and_revoke_refresh_tokens,
    blocking_a_user_revokes_their_tokens,
    client_refresh_token_settings_round_trip_and_set_rotation_leeway_and_lifetimes,
    non_rotating_refresh_tokens_are_used_again_and_revoked_with_their_access_tokens
);

/// Sets the `Web` client's Auth0 `refresh_token` settings; returns them as
/// the API answers them.
async fn set_refresh_settings(app: &TestApp, t: &Tenant, settings: Value) -> Value {
    let admin = app.admin_token().await;
    let path = format!("/api/v2/clients/{}", t.client_id);
    let (status, client) = app
        .api(
            Method::PATCH,
            &path,
            &admin,
            Some(serde_json::json!({ "refresh_token": settings })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{client}");
    let (_, read) = app.api(Method::GET, &path, &admin, None).await;
    assert_eq!(read["refresh_token"], client["refresh_token"]);
    client["refresh_token"].clone()
}

fn assert_refused(answer: &(StatusCode, Value), why: &str) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{why}: {}",
        answer.1
    );
}

/// Logs alice in with `extra` parameters and the offline_access scope;
/// returns the code's form and the token response.
async fn offline_tokens(app: &TestApp, t: &Tenant, extra: &[(&str, &str)]) -> (String, Value) {
    let params = with_scope(
        code_params(&t.client_id, extra),
        "openid email offline_access",
    );
    let code = alice_code(app, &params).await;
    let (status, tokens) = redeem(app, &code_form(t, &code)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (code, tokens)
}

async fn refresh(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", t.client_id.as_str()),
        ("client_secret", t.secret.as_str()),
    ];
    form.extend_from_slice(extra);
    redeem(app, &form).await
}

fn refresh_token_of(tokens: &Value) -> String {
    tokens["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {tokens}"))
        .to_owned()
}

async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let (_, tokens) = offline_tokens(&app, &t, &[("organization", "hoekstra")]).await;
    let first = refresh_token_of(&tokens);
    let login_id = claims(tokens["id_token"].as_str().unwrap());

    let (status, refreshed) = refresh(&app, &t, &first, &[]).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let second = refresh_token_of(&refreshed);
    assert_ne!(second, first, "rotated");
    let id_token = claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(id_token["sub"], login_id["sub"]);
    assert_eq!(id_token["org_id"], t.org_id.as_str());
    assert_eq!(id_token["auth_time"], login_id["auth_time"]);
    assert_eq!(id_token["sid"], login_id["sid"]);
    assert!(id_token.get("nonce").is_none(), "no nonce on refresh");
    let access = claims(refreshed["access_token"].as_str().unwrap());
    assert_eq!(access["org_id"], t.org_id.as_str());

    // The first token again: refused, and the family is revoked with it.
    let (status, body) = refresh(&app, &t, &first, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = refresh(&app, &t, &second, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the newest token of a reused family is revoked too"
    );
    let (_, body) = refresh(&app, &t, "made-up", &[]).await;
    assert_eq!(body["error"], "invalid_grant");
}

async fn refresh_tokens_are_bound_to_client_and_organization(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let (_, tokens) = offline_tokens(&app, &t, &[("organization", "hoekstra")]).await;
    let token = refresh_token_of(&tokens);

    // A token for organization A presented for organization B.
    let (status, body) = refresh(&app, &t, &token, &[("organization", "metahexa")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    // Another client cannot use it.
    let admin = app.admin_token().await;
    let (other_id, other_secret) = other_confidential_client(&app).await;
    let (status, body) = redeem(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("client_id", &other_id),
            ("client_secret", &other_secret),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // A scope wider than granted.
    let (_, body) = refresh(&app, &t, &token, &[("scope", "openid profile")]).await;
    assert_eq!(body["error"], "invalid_scope");
    // None of the refused requests burnt the token: the right request works,
    // naming the organization by id or by name, with a narrower scope.
    let (status, body) = refresh(
        &app,
        &t,
        &token,
        &[("organization", "hoekstra"), ("scope", "openid")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid");
    let next = refresh_token_of(&body);

    // Once alice leaves the organization, its refresh token stops working.
    let sub = claims(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/organizations/{}/members", t.org_id),
            &admin,
            Some(serde_json::json!({"members": [sub]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = refresh(&app, &t, &next, &[("organization", &t.org_id)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

async fn a_replayed_code_revokes_what_it_issued(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let (code, tokens) = offline_tokens(&app, &t, &[]).await;
    let first_access = tokens["access_token"].as_str().unwrap().to_owned();
    // The family has moved on by one refresh before the replay.
    let (status, refreshed) = refresh(&app, &t, &refresh_token_of(&tokens), &[]).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let token = refresh_token_of(&refreshed);
    let second_access = refreshed["access_token"].as_str().unwrap().to_owned();
    for access in [&first_access, &second_access] {
        assert_eq!(userinfo_of(&app, access).await.0, StatusCode::OK);
    }

    // Another client presenting the used code is refused and revokes
    // nothing: a leaked code must not let anyone end a victim's tokens.
    let (other_id, other_secret) = other_confidential_client(&app).await;
    let (status, body) = redeem(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &other_id),
            ("client_secret", &other_secret),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(userinfo_of(&app, &second_access).await.0, StatusCode::OK);

    let (status, body) = redeem(&app, &code_form(&t, &code)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "code replay refused");
    assert_eq!(
        body["error_description"],
        "The authorization code has already been used"
    );
    let (status, body) = refresh(&app, &t, &token, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "what the replayed code issued is revoked"
    );
    // The access tokens of the code and of the refresh are revoked too.
    for access in [&first_access, &second_access] {
        assert_eq!(userinfo_of(&app, access).await.0, StatusCode::UNAUTHORIZED);
    }

    // Without a refresh token: the code's access token alone.
    let code = alice_code(&app, &code_params(&t.client_id, &[])).await;
    let (status, tokens) = redeem(&app, &code_form(&t, &code)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo_of(&app, access).await.0, StatusCode::OK);
    let (status, _) = redeem(&app, &code_form(&t, &code)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(userinfo_of(&app, access).await.0, StatusCode::UNAUTHORIZED);
}

async fn refresh_tokens_need_offline_access_and_the_grant(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let code = alice_code(&app, &code_params(&t.client_id, &[])).await;
    let (_, tokens) = redeem(&app, &code_form(&t, &code)).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");

    let admin = app.admin_token().await;
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.client_id),
            &admin,
            Some(serde_json::json!({"grant_types": ["authorization_code"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tokens) = offline_tokens(&app, &t, &[]).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let (status, body) = refresh(&app, &t, "anything", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

async fn concurrent_uses_of_one_refresh_token_rotate_once(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let (_, tokens) = offline_tokens(&app, &t, &[]).await;
    let token = refresh_token_of(&tokens);
    let (a, b, c, d) = tokio::join!(
        refresh(&app, &t, &token, &[]),
        refresh(&app, &t, &token, &[]),
        refresh(&app, &t, &token, &[]),
        refresh(&app, &t, &token, &[])
    );
    let results = [a, b, c, d];
    let successes = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert_eq!(successes, 1, "{results:?}");
    for (status, body) in &results {
        assert!(
            *status == StatusCode::OK || body["error"] == "invalid_grant",
            "{status} {body}"
        );
    }
}

async fn administrators_list_and_revoke_refresh_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    let (_, tokens) = offline_tokens(&app, &t, &[("organization", "hoekstra")]).await;
    let user_id = claims(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let list_path = format!("/api/v2/users/{user_id}/refresh-tokens");
    let (status, listed) = app.api(Method::GET, &list_path, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let families = listed["tokens"].as_array().unwrap();
    assert_eq!(families.len(), 1, "{listed}");
    assert_eq!(families[0]["client_id"], t.client_id.as_str());
    assert_eq!(families[0]["organization_id"], t.org_id.as_str());
    let id = families[0]["id"].as_str().unwrap().to_owned();
    let (status, one) = app
        .api(
            Method::GET,
            &format!("/api/v2/refresh-tokens/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, one["user_id"].as_str()),
        (StatusCode::OK, Some(user_id.as_str()))
    );

    // Revoking one family: its token stops working.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/refresh-tokens/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, body) = refresh(&app, &t, &refresh_token_of(&tokens), &[]).await;
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/refresh-tokens/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revoking all of a user's.
    let (_, first) = offline_tokens(&app, &t, &[]).await;
    let (_, second) = offline_tokens(&app, &t, &[]).await;
    let (_, listed) = app.api(Method::GET, &list_path, &admin, None).await;
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 2);
    // Auth0 pages them by checkpoint, as the SDK asks (include_totals=true&take=…).
    let (status, first_page) = app
        .api(
            Method::GET,
            &format!("{list_path}?include_totals=true&take=1"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first_page}");
    assert_eq!(first_page["tokens"].as_array().unwrap().len(), 1);
    let next = first_page["next"].as_str().unwrap();
    let (_, last_page) = app
        .api(
            Method::GET,
            &format!("{list_path}?include_totals=true&take=1&from={next}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(last_page["tokens"].as_array().unwrap().len(), 1);
    assert_ne!(last_page["tokens"][0]["id"], first_page["tokens"][0]["id"]);
    assert!(last_page.get("next").is_none(), "{last_page}");
    let (status, _) = app
        .api(Method::GET, &format!("{list_path}?page=0"), &admin, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "checkpoint paging only");
    let (status, _) = app.api(Method::DELETE, &list_path, &admin, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    for tokens in [first, second] {
        let (_, body) = refresh(&app, &t, &refresh_token_of(&tokens), &[]).await;
        assert_eq!(body["error"], "invalid_grant");
    }
    let (_, listed) = app.api(Method::GET, &list_path, &admin, None).await;
    assert_eq!(listed["tokens"], serde_json::json!([]));
}

async fn blocking_a_user_revokes_their_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    let (_, tokens) = offline_tokens(&app, &t, &[]).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = refresh_token_of(&tokens);
    let user_path = format!("/api/v2/users/{}", claims(&access)["sub"].as_str().unwrap());
    assert_eq!(userinfo_of(&app, &access).await.0, StatusCode::OK);
    // An access token issued without a refresh token, from a plain code.
    let code = alice_code(&app, &code_params(&t.client_id, &[])).await;
    let (_, plain) = redeem(&app, &code_form(&t, &code)).await;
    let plain = plain["access_token"].as_str().unwrap().to_owned();

    let (status, _) = app
        .api(
            Method::PATCH,
            &user_path,
            &admin,
            Some(serde_json::json!({"blocked": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(userinfo_of(&app, &access).await.0, StatusCode::UNAUTHORIZED);
    // Neither userinfo nor introspection take a blocked user's token.
    assert_eq!(userinfo_of(&app, &plain).await.0, StatusCode::UNAUTHORIZED);
    let (_, answer) = token_state(
        &app,
        "/oauth/introspect",
        &t.client_id,
        Some(&t.secret),
        &plain,
    )
    .await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    // Unblocked again: what was revoked stays revoked.
    let (status, _) = app
        .api(
            Method::PATCH,
            &user_path,
            &admin,
            Some(serde_json::json!({"blocked": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(userinfo_of(&app, &access).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = refresh(&app, &t, &refresh_token, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

async fn client_refresh_token_settings_round_trip_and_set_rotation_leeway_and_lifetimes(
    backend: Backend,
) {
    use std::time::Duration;
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let admin = app.admin_token().await;
    // Before any setting: the defaults in effect are returned.
    let (_, client) = app
        .api(
            Method::GET,
            &format!("/api/v2/clients/{}", t.client_id),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        client["refresh_token"],
        serde_json::json!({
            "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0,
            "token_lifetime": 2_592_000, "infinite_token_lifetime": false,
            "idle_token_lifetime": 1_296_000, "infinite_idle_token_lifetime": false
        })
    );
    let sent = serde_json::json!({
        "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 30,
        "token_lifetime": 7200, "infinite_token_lifetime": false,
        "idle_token_lifetime": 3000, "infinite_idle_token_lifetime": false,
        "policies": [{"audience": "https://api.example.com/", "scope": ["read:x"]}]
    });
    assert_eq!(set_refresh_settings(&app, &t, sent.clone()).await, sent);

    // Leeway: the token just rotated away may be presented again for 30 s
    // (a retried request), then it is taken for a stolen one.
    let (_, tokens) = offline_tokens(&app, &t, &[("organization", "hoekstra")]).await;
    let first = refresh_token_of(&tokens);
    let (status, body) = refresh(&app, &t, &first, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = refresh_token_of(&body);
    app.clock.advance(Duration::from_secs(20));
    let (status, body) = refresh(&app, &t, &first, &[]).await;
    assert_eq!(status, StatusCode::OK, "within the leeway: {body}");
    let retried = refresh_token_of(&body);
    assert_ne!(retried, second);
    app.clock.advance(Duration::from_secs(11));
    assert_refused(&refresh(&app, &t, &first, &[]).await, "past the leeway");
    assert_refused(
        &refresh(&app, &t, &retried, &[]).await,
        "its family is revoked",
    );
    assert_refused(
        &refresh(&app, &t, &second, &[]).await,
        "its family is revoked",
    );

    // Only the last token used may be retried: once its successor is used,
    // presenting it is a reuse, leeway or not.
    let (_, tokens) = offline_tokens(&app, &t, &[("organization", "hoekstra")]).await;
    let first = refresh_token_of(&tokens);
    let (_, body) = refresh(&app, &t, &first, &[]).await;
    let second = refresh_token_of(&body);
    app.clock.advance(Duration::from_secs(1));
    let (status, body) = refresh(&app, &t, &second, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let third = refresh_token_of(&body);
    assert_refused(
        &refresh(&app, &t, &first, &[]).await,
        "not the last one used",
    );
    assert_refused(
        &refresh(&app, &t, &third, &[]).await,
        "its family is revoked",
    );

    // Idle lifetime: a token unused for 3000 s expires.
    let (_, tokens) = offline_tokens(&app, &t, &[("organization", "hoekstra")]).await;
    let token = refresh_token_of(&tokens);
    app.clock.advance(Duration::from_secs(2999));
    let (status, body) = refresh(&app, &t, &token, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = refresh_token_of(&body);
    app.clock.advance(Duration::from_secs(3001));
    assert_refused(&refresh(&app, &t, &token, &[]).await, "idle too long");

    // Absolute lifetime: used often enough, the family still ends 7200 s
    // after the login.
    let (_, tokens) = offline_tokens(&app, &t, &[("organization", "hoekstra")]).await;
    let mut token = refresh_token_of(&tokens);
    for _ in 0..2 {
        app.clock.advance(Duration::from_secs(2500));
        let (status, body) = refresh(&app, &t, &token, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token = refresh_token_of(&body);
    }
    app.clock.advance(Duration::from_secs(2500));
    assert_refused(
        &refresh(&app, &t, &token, &[]).await,
        "past the family's end",
    );

    // Auth0's rules on the settings, in its error shape.
    let admin = app.admin_token().await;
    let path = format!("/api/v2/clients/{}", t.client_id);
    for (bad, field) in [
        (
            serde_json::json!({"rotation_type": "rotating", "expiration_type": "non-expiring"}),
            "refresh_token.expiration_type",
        ),
        (
            serde_json::json!({"token_lifetime": 0}),
            "refresh_token.token_lifetime",
        ),
        (serde_json::json!({"leeway": -1}), "refresh_token.leeway"),
        (
            serde_json::json!({"rotation_type": "sometimes"}),
            "rotation_type",
        ),
    ] {
        let (status, body) = app
            .api(
                Method::PATCH,
                &path,
                &admin,
                Some(serde_json::json!({ "refresh_token": bad })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{body}");
    }
    // A public client's tokens rotate (RFC 9700 §4.14.2).
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", t.public_client_id),
            &admin,
            Some(serde_json::json!({
                "refresh_token": {"rotation_type": "non-rotating", "expiration_type": "non-expiring"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("refresh_token.rotation_type"),
        "{body}"
    );

    // null goes back to the defaults.
    let reset = set_refresh_settings(&app, &t, Value::Null).await;
    assert_eq!(reset["rotation_type"], "rotating");
    assert_eq!(reset["leeway"], 0);
    assert!(reset.get("policies").is_none(), "{reset}");
}

async fn non_rotating_refresh_tokens_are_used_again_and_revoked_with_their_access_tokens(
    backend: Backend,
) {
    use std::time::Duration;
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    set_refresh_settings(
        &app,
        &t,
        serde_json::json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"}),
    )
    .await;
    let (_, tokens) = offline_tokens(&app, &t, &[("organization", "hoekstra")]).await;
    let token = refresh_token_of(&tokens);
    for _ in 0..2 {
        // Non-expiring: a year between uses changes nothing.
        app.clock.advance(Duration::from_secs(366 * 86_400));
        let (status, body) = refresh(&app, &t, &token, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("refresh_token").is_none(), "not rotated: {body}");
    }
    let mut access_tokens = vec![];
    for _ in 0..2 {
        let (status, body) = refresh(&app, &t, &token, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        access_tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    for access in &access_tokens {
        assert_eq!(userinfo_of(&app, access).await.0, StatusCode::OK);
    }
    // Revoking the token revokes the access tokens each use issued.
    let response = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", token.as_str()),
            ("client_id", t.client_id.as_str()),
            ("client_secret", t.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_refused(&refresh(&app, &t, &token, &[]).await, "revoked");
    for access in &access_tokens {
        assert_eq!(userinfo_of(&app, access).await.0, StatusCode::UNAUTHORIZED);
    }
}
