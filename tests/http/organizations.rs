//! Organizations and their enabled connections.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    organization_lifecycle,
    organizations_page_like_auth0,
    enabled_connections_follow_the_rules,
    concurrent_creates_of_one_name_let_exactly_one_win,
    an_upstream_tenant_belongs_to_one_organization_of_a_connection
);

pub async fn create_connection(app: &TestApp, token: &str, body: Value) -> String {
    let (status, created) = app
        .api(Method::POST, "/api/v2/connections", token, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

pub fn oidc_connection(name: &str) -> Value {
    json!({
        "name": name,
        "strategy": "oidc",
        "options": {"client_id": "c", "client_secret": "s", "issuer": "https://idp.example.com", "type": "back_channel"}
    })
}

async fn organization_lifecycle(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({
                "name": "acme",
                "display_name": "Acme Corp",
                "branding": {"logo_url": "https://cdn.acme.test/logo.png", "colors": {"primary": "#112233", "page_background": "#ffffff"}},
                "metadata": {"tier": "gold"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let id = org["id"].as_str().unwrap();
    assert!(id.starts_with("org_") && id.len() >= 26, "{id}");
    assert_eq!(org["branding"]["colors"]["primary"], "#112233");

    let (status, by_id) = app
        .api(
            Method::GET,
            &format!("/api/v2/organizations/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!((status, &by_id), (StatusCode::OK, &org));
    let (status, by_name) = app
        .api(Method::GET, "/api/v2/organizations/name/acme", &token, None)
        .await;
    assert_eq!((status, &by_name), (StatusCode::OK, &org));

    let (status, updated) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/organizations/{id}"),
            &token,
            Some(json!({"display_name": "Acme Inc.", "metadata": {"tier": "platinum"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["display_name"], "Acme Inc.");
    assert_eq!(updated["name"], "acme");
    let (_, reread) = app
        .api(
            Method::GET,
            &format!("/api/v2/organizations/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(reread["metadata"]["tier"], "platinum");

    let (status, body) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["statusCode"], 409);

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/organizations/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/api/v2/organizations/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "Not Found");
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/organizations/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations/name/acme", &token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn organizations_page_like_auth0(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    for i in 0..7 {
        let (status, _) = app
            .api(
                Method::POST,
                "/api/v2/organizations",
                &token,
                Some(json!({"name": format!("org-{i}")})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, all) = app
        .api(Method::GET, "/api/v2/organizations", &token, None)
        .await;
    assert_eq!(all.as_array().unwrap().len(), 7);

    let (_, totals) = app
        .api(
            Method::GET,
            "/api/v2/organizations?page=1&per_page=3&include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(totals["total"], 7);
    assert_eq!(totals["start"], 3);
    assert_eq!(totals["limit"], 3);
    assert_eq!(totals["organizations"].as_array().unwrap().len(), 3);

    // Checkpoint paging walks every organization exactly once.
    let mut seen = Vec::new();
    let mut from = String::new();
    loop {
        let (status, page) = app
            .api(
                Method::GET,
                &format!("/api/v2/organizations?take=3&from={from}"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        for org in page["organizations"].as_array().unwrap() {
            seen.push(org["name"].as_str().unwrap().to_owned());
        }
        match page.get("next").and_then(Value::as_str) {
            Some(next) => from = next.to_owned(),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("org-{i}")).collect::<Vec<_>>());

    let (status, body) = app
        .api(
            Method::GET,
            "/api/v2/organizations?per_page=1000",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .api(Method::GET, "/api/v2/organizations?page=abc", &token, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn enabled_connections_follow_the_rules(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let (_, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({"name": "acme"})),
        )
        .await;
    let org_id = org["id"].as_str().unwrap();
    let oidc = create_connection(&app, &token, oidc_connection("acme-oidc")).await;
    let db = create_connection(
        &app,
        &token,
        json!({"name": "acme-db", "strategy": "auth0"}),
    )
    .await;
    let path = format!("/api/v2/organizations/{org_id}/enabled_connections");

    let (status, enabled) = app
        .api(
            Method::POST,
            &path,
            &token,
            Some(json!({"connection_id": oidc, "assign_membership_on_login": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{enabled}");
    assert_eq!(enabled["assign_membership_on_login"], true);
    assert_eq!(
        enabled["show_as_button"], true,
        "enterprise connections show as a button by default"
    );
    assert_eq!(enabled["connection"]["name"], "acme-oidc");
    assert_eq!(enabled["connection"]["strategy"], "oidc");

    let refused = [
        (
            json!({"connection_id": oidc, "is_signup_enabled": true, "assign_membership_on_login": true}),
            "is_signup_enabled",
        ),
        (
            json!({"connection_id": db, "is_signup_enabled": true}),
            "is_signup_enabled",
        ),
        (
            json!({"connection_id": db, "organization_access_level": "full"}),
            "organization_access_level",
        ),
        (
            json!({"connection_id": "con_doesnotexist"}),
            "connection_id",
        ),
        (
            json!({"connection_id": db, "organization_access_level": "owner"}),
            "organization_access_level",
        ),
    ];
    for (body, field) in refused {
        let (status, error) = app
            .api(Method::POST, &path, &token, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {error}");
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{error} should name {field}"
        );
    }
    let (status, _) = app
        .api(
            Method::POST,
            &path,
            &token,
            Some(json!({"connection_id": oidc})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "enabled twice");

    let (status, body) = app
        .api(
            Method::POST,
            &path,
            &token,
            Some(json!({"connection_id": db, "assign_membership_on_login": true, "is_signup_enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["show_as_button"], true,
        "Auth0's documented default, for every connection"
    );
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("{path}/{db}"),
            &token,
            Some(json!({"show_as_button": false})),
        )
        .await;
    assert_eq!(
        (status, &body["show_as_button"]),
        (StatusCode::OK, &json!(false)),
        "Auth0 takes show_as_button on any connection: {body}"
    );

    let (status, list) = app.api(Method::GET, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, totals) = app
        .api(
            Method::GET,
            &format!("{path}?page=0&per_page=50&include_totals=true"),
            &token,
            None,
        )
        .await;
    assert_eq!(totals["total"], 2);
    let (_, past_end) = app
        .api(
            Method::GET,
            &format!("{path}?page=1&per_page=50&include_totals=true"),
            &token,
            None,
        )
        .await;
    assert_eq!(past_end["enabled_connections"], json!([]));

    // Turning membership off while sign-up is on is refused, and nothing changes.
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("{path}/{db}"),
            &token,
            Some(json!({"assign_membership_on_login": false})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, unchanged) = app
        .api(Method::GET, &format!("{path}/{db}"), &token, None)
        .await;
    assert_eq!(unchanged["assign_membership_on_login"], true);

    let (status, patched) = app
        .api(
            Method::PATCH,
            &format!("{path}/{oidc}"),
            &token,
            Some(json!({"show_as_button": false, "organization_access_level": "limited", "organization_connection_name": "acme-sso"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["show_as_button"], false);
    assert_eq!(patched["organization_access_level"], "limited");
    assert_eq!(patched["organization_connection_name"], "acme-sso");

    let (status, _) = app
        .api(Method::DELETE, &format!("{path}/{oidc}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .api(Method::GET, &format!("{path}/{oidc}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the organization takes its enablements with it.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/organizations/{org_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.api(Method::GET, &path, &token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn concurrent_creates_of_one_name_let_exactly_one_win(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    for round in 0..5 {
        let body = json!({"name": format!("race-{round}")});
        let (a, b) = tokio::join!(
            app.api(
                Method::POST,
                "/api/v2/organizations",
                &token,
                Some(body.clone())
            ),
            app.api(
                Method::POST,
                "/api/v2/organizations",
                &token,
                Some(body.clone())
            ),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "round {round}: {a:?} {b:?}"
        );
    }
}

/// `upstream_tenant_id` (Switchyard's extension for a connection shared by
/// many organizations): set at enabling or by PATCH, cleared with `null`,
/// unique per connection (a second organization naming the tenant is a
/// 409), and refused on a connection no upstream tenant decides.
async fn an_upstream_tenant_belongs_to_one_organization_of_a_connection(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let shared = create_connection(&app, &token, oidc_connection("shared-entra")).await;
    let other = create_connection(&app, &token, oidc_connection("other-entra")).await;
    let database =
        create_connection(&app, &token, json!({"name": "users", "strategy": "auth0"})).await;
    let mut orgs = Vec::new();
    for name in ["acme", "globex"] {
        let (status, org) = app
            .api(
                Method::POST,
                "/api/v2/organizations",
                &token,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        orgs.push(org["id"].as_str().unwrap().to_owned());
    }
    let enable = |org: String, body: Value| {
        let (app, token) = (&app, &token);
        async move {
            app.api(
                Method::POST,
                &format!("/api/v2/organizations/{org}/enabled_connections"),
                token,
                Some(body),
            )
            .await
        }
    };
    let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let (status, body) = enable(
        orgs[0].clone(),
        json!({"connection_id": shared, "upstream_tenant_id": tid}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["upstream_tenant_id"], tid);
    let (status, body) = enable(
        orgs[1].clone(),
        json!({"connection_id": shared, "upstream_tenant_id": tid}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The same tenant on another connection is another mapping.
    let (status, body) = enable(
        orgs[1].clone(),
        json!({"connection_id": other, "upstream_tenant_id": tid}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = enable(
        orgs[1].clone(),
        json!({"connection_id": database, "upstream_tenant_id": "t"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = enable(orgs[1].clone(), json!({"connection_id": shared})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("upstream_tenant_id").is_none(), "{body}");
    let one = |org: &str| format!("/api/v2/organizations/{org}/enabled_connections/{shared}");
    let (status, body) = app
        .api(
            Method::PATCH,
            &one(&orgs[1]),
            &token,
            Some(json!({"upstream_tenant_id": tid})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .api(
            Method::PATCH,
            &one(&orgs[0]),
            &token,
            Some(json!({"upstream_tenant_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("upstream_tenant_id").is_none(), "{body}");
    let (status, body) = app
        .api(
            Method::PATCH,
            &one(&orgs[1]),
            &token,
            Some(json!({"upstream_tenant_id": tid})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["upstream_tenant_id"], tid);
}
