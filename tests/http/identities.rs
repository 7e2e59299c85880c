//! Upstream identities to users: just-in-time provisioning, the profile
//! refresh, the account-linking policies (the nOAuth takeover refused),
//! blocked users, and the Management API's identities, linking and
//! unlinking. The flow is driven directly with the `Identity` a connector
//! would return: what happens next is Switchyard's own logic.

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use switchyard::connectors::Identity;
use switchyard::flows::federation::ask_to_prove;
use switchyard::flows::federation::user_for_identity;
use switchyard::flows::login::{self, LoginError, Next, Transaction};
use switchyard::model::connection::Connection;
use switchyard::model::user::User;

use crate::on_both_backends;
use crate::organizations::{create_connection, oidc_connection};
use crate::support::oidc::{
    ALICE, CALLBACK, authorize, browser, code_params, hidden, location, query_param, tenant,
};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    first_login_provisions_and_later_logins_refresh,
    linking_policies_and_the_noauth_takeover,
    an_organizations_idp_links_only_that_organizations_people,
    blocked_users_are_refused,
    two_first_logins_of_one_identity_make_one_user,
    identities_link_and_unlink_through_the_management_api,
    ids_whose_subject_holds_a_bar_are_never_misread,
    prove_existing_asks_for_the_existing_account_password,
    auth0s_social_link_body_names_the_upstream_id,
);

fn identity(
    connection: &Connection,
    subject: &str,
    email: Option<&str>,
    verified: bool,
) -> Identity {
    Identity {
        connection_id: connection.id.clone(),
        subject: subject.to_owned(),
        email: email.map(str::to_owned),
        email_verified: verified,
        name: None,
        given_name: None,
        family_name: None,
        nickname: None,
        picture: None,
        groups: Vec::new(),
        raw: Map::new(),
        tenant: switchyard::connectors::UpstreamTenant::default(),
    }
}

async fn connection(app: &TestApp, token: &str, body: Value) -> Connection {
    let id = create_connection(app, token, body).await;
    app.served_store.get_connection(&id).await.unwrap()
}

fn linking(name: &str, policy: &str) -> Value {
    let mut body = oidc_connection(name);
    body["options"]["account_linking"] = json!(policy);
    body
}

async fn log_in(app: &TestApp, connection: &Connection, identity: &Identity) -> User {
    user_for_identity(&app.served_state, connection, identity)
        .await
        .unwrap()
}

/// A user id in a path, as the SDKs encode it.
fn path_id(id: &str) -> String {
    id.replace('|', "%7C")
}

async fn get_user(app: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
    app.api(
        Method::GET,
        &format!("/api/v2/users/{}", path_id(id)),
        token,
        None,
    )
    .await
}

async fn password_user(app: &TestApp, token: &str, email: &str, verified: bool) -> String {
    let (status, user) = app
        .api(
            Method::POST,
            "/api/v2/users",
            token,
            Some(
                json!({"connection": "users", "email": email, "password": "correct horse battery",
                         "email_verified": verified, "name": "Set by the admin"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    user["user_id"].as_str().unwrap().to_owned()
}

async fn first_login_provisions_and_later_logins_refresh(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let acme = connection(&app, &token, oidc_connection("acme-oidc")).await;

    // No email from the upstream: the person still logs in.
    let mut jane = identity(&acme, "248289761001", None, false);
    jane.name = Some("Jane".into());
    let user = log_in(&app, &acme, &jane).await;
    assert_eq!(user.user_id, "oidc|acme-oidc|248289761001");
    assert_eq!(user.email, None);
    assert_eq!(user.name.as_deref(), Some("Jane"));

    let (status, shown) = get_user(&app, &token, &user.user_id).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert!(shown.get("email").is_none(), "{shown}");
    assert_eq!(shown["user_id"], "oidc|acme-oidc|248289761001");
    assert_eq!(
        shown["identities"],
        json!([{"connection": "acme-oidc", "provider": "oidc", "user_id": "248289761001", "isSocial": false}])
    );

    // What the admin sets that the upstream does not send stays.
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/users/{}", path_id(&user.user_id)),
            &token,
            Some(json!({"app_metadata": {"plan": "gold"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A later login refreshes the profile from the upstream.
    jane.email = Some("jane@acme.test".into());
    jane.email_verified = true;
    jane.name = Some("Jane Doe".into());
    let again = log_in(&app, &acme, &jane).await;
    assert_eq!(again.user_id, user.user_id);
    assert_eq!(again.email.as_deref(), Some("jane@acme.test"));
    assert!(again.email_verified);
    assert_eq!(again.name.as_deref(), Some("Jane Doe"));
    let (_, shown) = get_user(&app, &token, &user.user_id).await;
    assert_eq!(shown["email"], "jane@acme.test");
    assert_eq!(shown["name"], "Jane Doe");
    assert_eq!(shown["app_metadata"], json!({"plan": "gold"}));

    // One user for the connection, found by Auth0's search.
    let (status, found) = app
        .api(
            Method::GET,
            "/api/v2/users?q=identities.connection:%22acme-oidc%22",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["user_id"], user.user_id);
}

async fn linking_policies_and_the_noauth_takeover(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_connection(&app, &token, json!({"name": "users", "strategy": "auth0"})).await;
    let alice = password_user(&app, &token, "alice@acme.test", true).await;
    let bob = password_user(&app, &token, "bob@acme.test", false).await;

    let verified = connection(&app, &token, linking("links-verified", "verified_email")).await;
    // nOAuth: an upstream that lets anyone type any address vouches for
    // nothing. Its unverified claim of Alice's email makes a user of its own.
    let mallory = log_in(
        &app,
        &verified,
        &identity(&verified, "mallory", Some("alice@acme.test"), false),
    )
    .await;
    assert_ne!(mallory.user_id, alice);
    assert!(!mallory.email_verified);
    let (_, shown) = get_user(&app, &token, &alice).await;
    assert_eq!(
        shown["identities"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );

    // An existing account whose email nobody verified is not joined either.
    let not_bob = log_in(
        &app,
        &verified,
        &identity(&verified, "b1", Some("bob@acme.test"), true),
    )
    .await;
    assert_ne!(not_bob.user_id, bob);

    // Both verified: the identity joins Alice, whose profile stays hers.
    let mut upstream_alice = identity(&verified, "alice-upstream", Some("alice@acme.test"), true);
    upstream_alice.name = Some("Alice Upstream".into());
    let joined = log_in(&app, &verified, &upstream_alice).await;
    assert_eq!(joined.user_id, alice);
    assert_eq!(
        log_in(&app, &verified, &upstream_alice).await.user_id,
        alice
    );
    let (_, shown) = get_user(&app, &token, &alice).await;
    assert_eq!(shown["name"], "Set by the admin");
    assert_eq!(
        shown["identities"],
        json!([
            {"connection": "users", "provider": "auth0", "user_id": alice, "isSocial": false},
            {"connection": "links-verified", "provider": "oidc", "user_id": "alice-upstream", "isSocial": false,
             "profileData": {"email": "alice@acme.test", "email_verified": true, "name": "Alice Upstream"}}
        ])
    );

    // The default never links, even a verified email (two verified accounts
    // with one email are then two candidates: a new user, linked to none).
    let never = connection(&app, &token, oidc_connection("never-links")).await;
    let other = log_in(
        &app,
        &never,
        &identity(&never, "a1", Some("alice@acme.test"), true),
    )
    .await;
    assert_ne!(other.user_id, alice);

    // Two verified accounts now have Alice's email: which one is hers is not
    // guessed. The new user shares the address with Mallory's, in one
    // connection: an upstream's people may claim one address.
    let ambiguous = log_in(
        &app,
        &verified,
        &identity(&verified, "alice-2", Some("alice@acme.test"), true),
    )
    .await;
    assert_ne!(ambiguous.user_id, alice);
    assert_ne!(ambiguous.user_id, other.user_id);

    // The option is checked where it is set.
    for (body, field) in [
        (
            linking("bad-policy", "sometimes"),
            "options.account_linking",
        ),
        (
            json!({"name": "db2", "strategy": "auth0", "options": {"account_linking": "never"}}),
            "options.account_linking",
        ),
    ] {
        let (status, error) = app
            .api(Method::POST, "/api/v2/connections", &token, Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
}

/// An organization named `name` with `members`; its id.
async fn organization(app: &TestApp, token: &str, name: &str, members: &[&str]) -> String {
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            token,
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let id = org["id"].as_str().unwrap().to_owned();
    if !members.is_empty() {
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/v2/organizations/{id}/members"),
                token,
                Some(json!({ "members": members })),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    id
}

async fn enable_on(app: &TestApp, token: &str, org_id: &str, connection: &Connection) {
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org_id}/enabled_connections"),
            token,
            Some(json!({"connection_id": connection.id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The review's takeover: an organization's admin points its connection at
/// an IdP that asserts a verified email of another organization's person.
async fn an_organizations_idp_links_only_that_organizations_people(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_connection(&app, &token, json!({"name": "users", "strategy": "auth0"})).await;
    let ceo = password_user(&app, &token, "ceo@othercorp.example", true).await;
    let consultant = password_user(&app, &token, "pat@consult.example", true).await;
    let loner = password_user(&app, &token, "lee@tenant.example", true).await;
    let jane = password_user(&app, &token, "jane@acme.example", true).await;
    let acme = organization(&app, &token, "acme", &[&jane, &consultant]).await;
    organization(&app, &token, "othercorp", &[&ceo, &consultant]).await;
    let acme_idp = connection(&app, &token, linking("acme-idp", "verified_email")).await;
    enable_on(&app, &token, &acme, &acme_idp).await;

    // Another organization's person, a person of acme and another
    // organization, a person of no organization: each a new user, and the
    // account whose email was claimed keeps its one identity.
    for (victim, email) in [
        (&ceo, "ceo@othercorp.example"),
        (&consultant, "pat@consult.example"),
        (&loner, "lee@tenant.example"),
    ] {
        let claimed = identity(&acme_idp, &format!("claims-{email}"), Some(email), true);
        let user = log_in(&app, &acme_idp, &claimed).await;
        assert_ne!(&user.user_id, victim, "{email}");
        assert_eq!(user.user_id, format!("oidc|acme-idp|claims-{email}"));
        let (_, shown) = get_user(&app, &token, victim).await;
        assert_eq!(
            shown["identities"],
            json!([{"connection": "users", "provider": "auth0", "user_id": victim, "isSocial": false}]),
            "{email}"
        );
    }
    // acme's own person is linked, as before.
    let upstream_jane = identity(&acme_idp, "jane-at-idp", Some("jane@acme.example"), true);
    assert_eq!(log_in(&app, &acme_idp, &upstream_jane).await.user_id, jane);

    // prove_existing joins nothing before the account's password is
    // proved: it may ask anyone of the tenant, and the claimed account keeps
    // its one identity until then.
    let acme_prove = connection(&app, &token, linking("acme-prove", "prove_existing")).await;
    enable_on(&app, &token, &acme, &acme_prove).await;
    let takeover = identity(&acme_prove, "p-ceo", Some("ceo@othercorp.example"), true);
    let asked = user_for_identity(&app.served_state, &acme_prove, &takeover).await;
    assert!(
        matches!(&asked, Err(LoginError::ProveExisting(pending)) if pending.user_id == ceo),
        "{asked:?}"
    );
    let (_, shown) = get_user(&app, &token, &ceo).await;
    assert_eq!(shown["identities"].as_array().unwrap().len(), 1, "{shown}");
    let asked = user_for_identity(
        &app.served_state,
        &acme_prove,
        &identity(&acme_prove, "p-jane", Some("jane@acme.example"), true),
    )
    .await;
    assert!(
        matches!(&asked, Err(LoginError::ProveExisting(pending)) if pending.user_id == jane),
        "{asked:?}"
    );
}

async fn blocked_users_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_connection(&app, &token, json!({"name": "users", "strategy": "auth0"})).await;
    let acme = connection(&app, &token, linking("acme-oidc", "verified_email")).await;
    let jane = identity(&acme, "jane", None, false);
    let user = log_in(&app, &acme, &jane).await;
    let block = |id: String| {
        let app = &app;
        let token = &token;
        async move {
            let (status, _) = app
                .api(
                    Method::PATCH,
                    &format!("/api/v2/users/{}", path_id(&id)),
                    token,
                    Some(json!({"blocked": true})),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    };
    block(user.user_id.clone()).await;
    let refused = user_for_identity(&app.served_state, &acme, &jane).await;
    assert!(
        matches!(&refused, Err(LoginError::Retry(m)) if m.contains("blocked")),
        "{refused:?}"
    );

    // A blocked account is not a way in through a linked identity either.
    let carol = password_user(&app, &token, "carol@acme.test", true).await;
    block(carol.clone()).await;
    let refused = user_for_identity(
        &app.served_state,
        &acme,
        &identity(&acme, "carol", Some("carol@acme.test"), true),
    )
    .await;
    assert!(
        matches!(&refused, Err(LoginError::Retry(m)) if m.contains("blocked")),
        "{refused:?}"
    );
}

async fn two_first_logins_of_one_identity_make_one_user(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let acme = connection(&app, &token, oidc_connection("acme-oidc")).await;
    for round in 0..5 {
        let racer = identity(&acme, &format!("racer-{round}"), None, false);
        let login = || {
            let (state, acme, racer) = (app.served_state.clone(), acme.clone(), racer.clone());
            tokio::spawn(async move { user_for_identity(&state, &acme, &racer).await })
        };
        let (a, b) = (login(), login());
        let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
        assert_eq!(a.user_id, b.user_id);
    }
    let (_, users) = app
        .api(
            Method::GET,
            "/api/v2/users?connection=acme-oidc&include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(users["total"], 5, "{users}");
}

async fn identities_link_and_unlink_through_the_management_api(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_connection(&app, &token, json!({"name": "users", "strategy": "auth0"})).await;
    let alice = password_user(&app, &token, "alice@acme.test", true).await;
    let bob = password_user(&app, &token, "bob@acme.test", true).await;
    let acme = connection(&app, &token, oidc_connection("acme-oidc")).await;
    let jane = identity(&acme, "jane", Some("jane@acme.test"), true);
    let secondary = log_in(&app, &acme, &jane).await.user_id;
    let link = |primary: &str, body: Value| {
        let path = format!("/api/v2/users/{}/identities", path_id(primary));
        let app = &app;
        let token = &token;
        async move { app.api(Method::POST, &path, token, Some(body)).await }
    };

    for (body, expected) in [
        (json!({"link_with": "eyJ..."}), StatusCode::BAD_REQUEST),
        (
            json!({"user_id": "acme-oidc|jane"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"provider": "oidc", "user_id": "acme-oidc|nobody"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"provider": "auth0", "user_id": alice}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"provider": "auth0", "user_id": bob}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"provider": "auth0", "user_id": secondary}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"provider": "oidc", "user_id": "acme-oidc|jane", "connection_id": "con_other"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, error) = link(&alice, body.clone()).await;
        assert_eq!(status, expected, "{body}: {error}");
        assert!(error["message"].is_string(), "{error}");
    }

    // Auth0's form: the secondary's user_id without its provider.
    let (status, identities) = link(
        &alice,
        json!({"provider": "oidc", "user_id": "acme-oidc|jane", "connection_id": acme.id}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{identities}");
    assert_eq!(
        identities,
        json!([
            {"connection": "users", "provider": "auth0", "user_id": alice, "isSocial": false},
            {"connection": "acme-oidc", "provider": "oidc", "user_id": "jane", "isSocial": false,
             "profileData": {"email": "jane@acme.test", "email_verified": true}}
        ])
    );
    assert_eq!(
        get_user(&app, &token, &secondary).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(log_in(&app, &acme, &jane).await.user_id, alice);
    // Auth0's search finds a user by any of its identities' connections.
    let (_, found) = app
        .api(
            Method::GET,
            "/api/v2/users?q=identities.connection:%22acme-oidc%22&include_totals=true",
            &token,
            None,
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["users"][0]["user_id"], json!(alice));

    let unlink = |user: &str, provider: &str, id: &str| {
        let path = format!(
            "/api/v2/users/{}/identities/{provider}/{}",
            path_id(user),
            path_id(id)
        );
        let app = &app;
        let token = &token;
        async move { app.api(Method::DELETE, &path, token, None).await }
    };
    assert_eq!(
        unlink(&alice, "auth0", &alice).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        unlink(&alice, "samlp", "jane").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, left) = unlink(&alice, "oidc", "jane").await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert_eq!(
        left,
        json!([{"connection": "users", "provider": "auth0", "user_id": alice, "isSocial": false}])
    );
    assert_eq!(
        unlink(&alice, "oidc", "jane").await.0,
        StatusCode::NOT_FOUND
    );

    // Unlinked, the identity logs in as a user of its own again, whose
    // main identity stays.
    let again = log_in(&app, &acme, &jane).await.user_id;
    assert_eq!(again, "oidc|acme-oidc|jane");
    let (status, error) = unlink(&again, "oidc", "acme-oidc|jane").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}

/// Federated ids are `<strategy>|<connection>|<subject>` and the subject is
/// the upstream's: it may hold `|`. A connection named `oidc` makes one
/// `user_id` read two ways; the link and the unlink refuse to guess.
async fn ids_whose_subject_holds_a_bar_are_never_misread(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_connection(&app, &token, json!({"name": "users", "strategy": "auth0"})).await;
    let alice = password_user(&app, &token, "alice@acme.test", true).await;
    let named_oidc = connection(&app, &token, oidc_connection("oidc")).await;
    let acme = connection(&app, &token, oidc_connection("acme")).await;
    // A millisecond apart: their identities are listed oldest first.
    let x = log_in(
        &app,
        &named_oidc,
        &identity(&named_oidc, "acme|x", None, false),
    )
    .await;
    app.clock.advance(std::time::Duration::from_millis(1));
    let y = log_in(&app, &acme, &identity(&acme, "x", None, false)).await;
    app.clock.advance(std::time::Duration::from_millis(1));
    let z = log_in(&app, &acme, &identity(&acme, "p|q", None, false)).await;
    assert_eq!(
        (x.user_id.as_str(), y.user_id.as_str(), z.user_id.as_str()),
        ("oidc|oidc|acme|x", "oidc|acme|x", "oidc|acme|p|q")
    );
    let link = |body: Value| {
        let path = format!("/api/v2/users/{}/identities", path_id(&alice));
        let app = &app;
        let token = &token;
        async move { app.api(Method::POST, &path, token, Some(body)).await }
    };

    // `oidc|acme|x` is X's id without its provider (Auth0's form) and Y's
    // whole id: refused, both accounts left as they are.
    let (status, error) = link(json!({"provider": "oidc", "user_id": "oidc|acme|x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("connection_id"),
        "{error}"
    );
    for user in [&x, &y] {
        assert_eq!(
            get_user(&app, &token, &user.user_id).await.0,
            StatusCode::OK
        );
    }
    let (_, shown) = get_user(&app, &token, &alice).await;
    assert_eq!(shown["identities"].as_array().map(Vec::len), Some(1));
    // Neither a subject alone without its connection.
    let (status, error) = link(json!({"provider": "oidc", "user_id": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    // connection_id says which: X; then Y; then Z by its upstream subject.
    for (body, linked) in [
        (
            json!({"provider": "oidc", "user_id": "oidc|acme|x", "connection_id": named_oidc.id}),
            &x,
        ),
        (
            json!({"provider": "oidc", "user_id": "oidc|acme|x", "connection_id": acme.id}),
            &y,
        ),
        (
            json!({"provider": "oidc", "user_id": "p|q", "connection_id": acme.id}),
            &z,
        ),
    ] {
        let (status, identities) = link(body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {identities}");
        assert_eq!(
            get_user(&app, &token, &linked.user_id).await.0,
            StatusCode::NOT_FOUND,
            "{body}"
        );
    }
    let (_, shown) = get_user(&app, &token, &alice).await;
    let pairs: Vec<(String, String)> = shown["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["connection"].as_str().unwrap().to_owned(),
                i["user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pair = |c: &str, u: &str| (c.to_owned(), u.to_owned());
    assert_eq!(
        pairs,
        [
            pair("users", &alice),
            pair("oidc", "acme|x"),
            pair("acme", "x"),
            pair("acme", "p|q")
        ]
    );

    // Unlinking `acme|x`: the subject at `oidc`, or `x` at `acme`? Refused;
    // `<connection>|<subject>` says which.
    let unlink = |id: &str| {
        let path = format!(
            "/api/v2/users/{}/identities/oidc/{}",
            path_id(&alice),
            path_id(id)
        );
        let app = &app;
        let token = &token;
        async move { app.api(Method::DELETE, &path, token, None).await }
    };
    let (status, error) = unlink("acme|x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, left) = unlink("oidc|acme|x").await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert_eq!(left.as_array().map(Vec::len), Some(3), "{left}");
    assert!(
        !left.to_string().contains(r#""connection":"oidc""#),
        "{left}"
    );
    let (status, left) = unlink("acme|x").await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert_eq!(left[1]["user_id"], "p|q", "{left}");
}

/// A login transaction as a browser holds it after `/authorize` (the flow
/// needs it to go on after the upstream).
async fn transaction(app: &TestApp, browser: &reqwest::Client, client_id: &str) -> Transaction {
    let start = authorize(app, browser, &code_params(client_id, &[])).await;
    let id = query_param(&app.url(&location(&start)), "state").unwrap();
    let secret = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find_map(|c| c.strip_prefix("sy_login_"))
        .and_then(|c| c.split_once('='))
        .map(|(_, rest)| rest.split(';').next().unwrap().to_owned())
        .unwrap();
    login::load(&app.served_state, &id, Some(&secret))
        .await
        .unwrap()
}

/// The linking page a pending link sends the browser to; posts `decision`
/// with `password` on it and returns the response.
async fn answer_link_page(
    app: &TestApp,
    browser: &reqwest::Client,
    txn: &Transaction,
    identity: &Identity,
    acme: &Connection,
    answers: &[(&str, &str)],
) -> reqwest::Response {
    let pending = match user_for_identity(&app.served_state, acme, identity).await {
        Err(LoginError::ProveExisting(pending)) => pending,
        other => panic!("expected to be asked to prove the account, got {other:?}"),
    };
    let page = match ask_to_prove(&app.served_state, txn, &pending).await {
        Ok(finished) => match finished.next {
            Next::Page(page) => page,
            Next::Client(_) => panic!("expected the linking page"),
        },
        Err(e) => panic!("{e:?}"),
    };
    let html = browser.get(app.url(&page)).send().await.unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    let html = html.text().await.unwrap();
    assert!(html.contains(ALICE.0), "{html}");
    let csrf = hidden(&html, "csrf");
    let mut response = None;
    for (decision, password) in answers {
        response = Some(
            browser
                .post(app.url("/u/link"))
                .form(&[
                    ("state", txn.id.as_str()),
                    ("csrf", csrf.as_str()),
                    ("decision", decision),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap(),
        );
        let last = response.as_ref().unwrap();
        if last.status() != StatusCode::SEE_OTHER {
            assert_eq!(last.status(), StatusCode::UNAUTHORIZED);
        }
    }
    response.unwrap()
}

async fn prove_existing_asks_for_the_existing_account_password(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenant(&app).await;
    let token = app.admin_token().await;
    let mut body = linking("acme-oidc", "prove_existing");
    body["enabled_clients"] = json!([t.client_id]);
    let acme = connection(&app, &token, body).await;
    let (_, alice) = app
        .api(
            Method::GET,
            &format!("/api/v2/users-by-email?email={}", ALICE.0),
            &token,
            None,
        )
        .await;
    let alice = alice[0]["user_id"].as_str().unwrap().to_owned();

    // An email the upstream does not vouch for asks nothing and joins nothing.
    let unverified = log_in(
        &app,
        &acme,
        &identity(&acme, "mallory", Some(ALICE.0), false),
    )
    .await;
    assert_ne!(unverified.user_id, alice);

    // A wrong password links nothing; Alice's links her upstream login.
    let browser = browser();
    let txn = transaction(&app, &browser, &t.client_id).await;
    let upstream = identity(&acme, "alice-upstream", Some(ALICE.0), true);
    let done = answer_link_page(
        &app,
        &browser,
        &txn,
        &upstream,
        &acme,
        &[("link", "not-her-password"), ("link", ALICE.1)],
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let back = location(&done);
    assert!(back.starts_with(CALLBACK), "{back}");
    assert!(query_param(&back, "code").is_some(), "{back}");
    assert_eq!(log_in(&app, &acme, &upstream).await.user_id, alice);

    // Or the person goes on with a separate account.
    let browser = crate::support::oidc::browser();
    let txn = transaction(&app, &browser, &t.client_id).await;
    let other = identity(&acme, "alice-elsewhere", Some(ALICE.0), true);
    let done = answer_link_page(&app, &browser, &txn, &other, &acme, &[("skip", "")]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(location(&done).starts_with(CALLBACK));
    assert_eq!(
        log_in(&app, &acme, &other).await.user_id,
        "oidc|acme-oidc|alice-elsewhere"
    );
}

/// Auth0's social ids are `google-oauth2|<id>`, so its callers link with
/// `{"provider": "google-oauth2", "user_id": "<id>"}`: with the tenant's one
/// connection of that strategy, that names its upstream subject.
async fn auth0s_social_link_body_names_the_upstream_id(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    create_connection(&app, &token, json!({"name": "users", "strategy": "auth0"})).await;
    let alice = password_user(&app, &token, "alice@acme.test", true).await;
    let google = connection(
        &app,
        &token,
        json!({"name": "google", "strategy": "google-oauth2"}),
    )
    .await;
    let secondary = log_in(&app, &google, &identity(&google, "1234567890", None, false)).await;
    assert_eq!(secondary.user_id, "google-oauth2|google|1234567890");
    let path = format!("/api/v2/users/{}/identities", path_id(&alice));
    let body = json!({"provider": "google-oauth2", "user_id": "1234567890"});

    // A second Google connection: which one is meant is not guessed.
    let other = create_connection(
        &app,
        &token,
        json!({"name": "google-workspace", "strategy": "google-oauth2"}),
    )
    .await;
    let (status, error) = app
        .api(Method::POST, &path, &token, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/connections/{other}"),
            &token,
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");

    let (status, identities) = app.api(Method::POST, &path, &token, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{identities}");
    assert_eq!(identities[1]["connection"], "google", "{identities}");
    assert_eq!(identities[1]["user_id"], "1234567890", "{identities}");
    assert_eq!(
        get_user(&app, &token, &secondary.user_id).await.0,
        StatusCode::NOT_FOUND
    );
}
