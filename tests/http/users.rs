//! Users, roles, organization members and member roles.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_both_backends;
use crate::organizations::create_connection;
use crate::support::{Backend, spawn};

on_both_backends!(
    users_roles_and_memberships,
    users_are_listed_a_page_at_a_time
);

async fn users_roles_and_memberships(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_connection(&app, &token, json!({"name": "users", "strategy": "auth0"})).await;
    create_connection(
        &app,
        &token,
        json!({"name": "acme-oidc", "strategy": "oidc",
        "options": {"client_id": "c", "client_secret": "s", "issuer": "https://idp.example.com"}}),
    )
    .await;

    let (status, user) = app
        .api(Method::POST, "/api/v2/users", &token,
             Some(json!({"connection": "users", "email": "Alice@Acme.TEST", "password": "correct horse battery", "name": "Alice"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let user_id = user["user_id"].as_str().unwrap().to_owned();
    assert_eq!(user["email"], "alice@acme.test");
    assert_eq!(user["identities"][0]["connection"], "users");
    assert!(user.get("password").is_none());

    let refused = [
        (
            json!({"connection": "users", "email": "alice@acme.test", "password": "another long one"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"connection": "users", "email": "bob@acme.test", "password": "short"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"connection": "users", "email": "not-an-email", "password": "long enough pw"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"connection": "acme-oidc", "email": "bob@acme.test", "password": "long enough pw"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"connection": "nope", "email": "bob@acme.test", "password": "long enough pw"}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, expected) in refused {
        let (status, error) = app
            .api(Method::POST, "/api/v2/users", &token, Some(body.clone()))
            .await;
        assert_eq!(status, expected, "{body}: {error}");
    }

    let (_, by_email) = app
        .api(
            Method::GET,
            "/api/v2/users-by-email?email=ALICE@acme.test",
            &token,
            None,
        )
        .await;
    assert_eq!(by_email.as_array().unwrap().len(), 1);
    let (status, patched) = app
        .api(Method::PATCH, &format!("/api/v2/users/{user_id}"), &token,
             Some(json!({"name": "Alice A.", "app_metadata": {"plan": "pro"}, "password": "a new long password"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["app_metadata"]["plan"], "pro");
    let store = app.store().await;
    let (_, hash) = store
        .find_password_user(
            &store.get_user(&user_id).await.unwrap().user.connection_id,
            "alice@acme.test",
        )
        .await
        .unwrap()
        .unwrap();
    let hash = hash.unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(
        switchyard::connectors::database::verify_password("a new long password".into(), hash)
            .await
            .unwrap()
    );

    // Roles
    let (status, role) = app
        .api(
            Method::POST,
            "/api/v2/roles",
            &token,
            Some(json!({"name": "admin", "description": "Org admins"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    let role_id = role["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v2/roles",
            &token,
            Some(json!({"name": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/roles/{role_id}"),
            &token,
            Some(json!({"description": "Admins"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Members and member roles
    let (_, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({"name": "acme"})),
        )
        .await;
    let org_id = org["id"].as_str().unwrap();
    let members = format!("/api/v2/organizations/{org_id}/members");
    let roles_path = format!("{members}/{user_id}/roles");
    let (status, _) = app
        .api(
            Method::POST,
            &roles_path,
            &token,
            Some(json!({"roles": [role_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "roles for a non-member");
    let (status, _) = app
        .api(
            Method::POST,
            &members,
            &token,
            Some(json!({"members": [user_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .api(
            Method::POST,
            &members,
            &token,
            Some(json!({"members": [user_id]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "adding a member twice is harmless"
    );
    let (status, error) = app
        .api(
            Method::POST,
            &members,
            &token,
            Some(json!({"members": ["usr_nobody"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (_, listed) = app.api(Method::GET, &members, &token, None).await;
    assert_eq!(
        listed,
        json!([{"user_id": user_id, "email": "alice@acme.test", "name": "Alice A."}])
    );

    let (status, _) = app
        .api(
            Method::POST,
            &roles_path,
            &token,
            Some(json!({"roles": [role_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = app
        .api(
            Method::POST,
            &roles_path,
            &token,
            Some(json!({"roles": ["rol_nope"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (_, granted) = app.api(Method::GET, &roles_path, &token, None).await;
    assert_eq!(granted[0]["name"], "admin");
    // Auth0's wrapper, which the SDK asks for (include_totals=true).
    let (status, granted) = app
        .api(
            Method::GET,
            &format!("{roles_path}?include_totals=true&page=0&per_page=1"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert_eq!(
        (
            granted["roles"][0]["id"].as_str(),
            &granted["start"],
            &granted["limit"],
            &granted["total"]
        ),
        (Some(role_id.as_str()), &json!(0), &json!(1), &json!(1))
    );
    let (_, beyond) = app
        .api(
            Method::GET,
            &format!("{roles_path}?include_totals=true&page=1&per_page=1"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (&beyond["roles"], &beyond["total"]),
        (&json!([]), &json!(1))
    );
    let (status, error) = app
        .api(Method::GET, &format!("{roles_path}?take=1"), &token, None)
        .await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query_string")),
        "Auth0 pages a member's roles by offset only: {error}"
    );
    let (status, _) = app
        .api(
            Method::DELETE,
            &roles_path,
            &token,
            Some(json!({"roles": [role_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, granted) = app.api(Method::GET, &roles_path, &token, None).await;
    assert_eq!(granted, json!([]));

    let (status, _) = app
        .api(
            Method::DELETE,
            &members,
            &token,
            Some(json!({"members": [user_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = app.api(Method::GET, &members, &token, None).await;
    assert_eq!(listed, json!([]));

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/users/{user_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .api(
            Method::GET,
            &format!("/api/v2/users/{user_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/roles/{role_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

async fn users_are_listed_a_page_at_a_time(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    for name in ["users", "staff"] {
        create_connection(&app, &token, json!({"name": name, "strategy": "auth0"})).await;
    }
    for (connection, email) in [
        ("users", "a@acme.test"),
        ("users", "b@acme.test"),
        ("users", "c@acme.test"),
        ("staff", "d@acme.test"),
        ("staff", "e@acme.test"),
    ] {
        let (status, user) = app
            .api(Method::POST, "/api/v2/users", &token,
                 Some(json!({"connection": connection, "email": email, "password": "correct horse battery"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
    }

    // Offset pages with totals, as Auth0 shapes them.
    let mut seen = std::collections::BTreeSet::new();
    for page in 0..3 {
        let (status, body) = app
            .api(
                Method::GET,
                &format!("/api/v2/users?page={page}&per_page=2&include_totals=true"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["total"], 5);
        assert_eq!(body["start"], page * 2);
        let users = body["users"].as_array().unwrap();
        assert_eq!(users.len(), if page < 2 { 2 } else { 1 });
        for user in users {
            seen.insert(user["user_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen.len(), 5, "every user once");

    // One connection's users; an unknown connection has none.
    let (_, staff) = app
        .api(Method::GET, "/api/v2/users?connection=staff", &token, None)
        .await;
    let staff = staff.as_array().unwrap();
    assert_eq!(staff.len(), 2);
    assert!(
        staff
            .iter()
            .all(|u| u["identities"][0]["connection"] == "staff")
    );
    let (status, none) = app
        .api(Method::GET, "/api/v2/users?connection=nope", &token, None)
        .await;
    assert_eq!((status, none), (StatusCode::OK, json!([])));
    let (status, error) = app
        .api(Method::GET, "/api/v2/users?per_page=500", &token, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    // Auth0's search syntax, for the searches answered exactly.
    let (_, found) = app
        .api(
            Method::GET,
            "/api/v2/users?q=email%3A%22D%40acme.test%22&search_engine=v3",
            &token,
            None,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["email"], "d@acme.test");
    let (_, users) = app
        .api(
            Method::GET,
            "/api/v2/users?q=identities.connection%3A%22users%22&include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(users["total"], 3, "{users}");
    // A search it cannot answer exactly is refused, not ignored.
    let (status, error) = app
        .api(Method::GET, "/api/v2/users?q=name%3AAlice", &token, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["message"].as_str().unwrap().contains("q supports"));
}
