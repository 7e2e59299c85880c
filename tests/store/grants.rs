//! Users' consents to clients (Auth0's grants): one row per user, client
//! and audience whose scopes only grow; deleting one revokes the refresh
//! tokens issued under it; a deleted user or client takes its grants along.

use switchyard::model::client::Client;
use switchyard::model::connection::Strategy;
use switchyard::model::ids::{self, new_id};
use switchyard::model::user::User;
use switchyard::store::{Page, Store, UserGrant, UserGrantFilter};

use crate::{
    alice_and_web_client, client, connection, family_of, on_both_backends, start_family, user,
};

on_both_backends!(
    a_consent_widens_the_one_grant_of_its_user_client_and_audience,
    concurrent_consents_of_one_user_and_client_make_one_grant,
    grants_are_listed_by_filter_and_page,
    deleting_a_grant_revokes_the_refresh_tokens_issued_under_it,
    grants_go_with_their_user_or_client,
);

const USERINFO: &str = "https://id.example/userinfo";
const API: &str = "https://api.example/";

fn scopes(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| (*s).to_owned()).collect()
}

/// `user` consents to `scope` for `client` and `audience`; the grant after.
async fn consent(
    store: &Store,
    user: &User,
    client: &Client,
    audience: &str,
    scope: &[&str],
) -> UserGrant {
    store
        .grant_user_consent(
            &new_id(ids::USER_GRANT),
            &user.user_id,
            &client.client_id,
            audience,
            &scopes(scope),
        )
        .await
        .unwrap()
}

async fn a_consent_widens_the_one_grant_of_its_user_client_and_audience(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let first = consent(
        &store,
        &alice,
        &web,
        USERINFO,
        &["openid", "email", "email"],
    )
    .await;
    assert_eq!(first.scope, scopes(&["email", "openid"]));
    let widened = consent(&store, &alice, &web, USERINFO, &["openid", "profile"]).await;
    assert_eq!(widened.id, first.id, "the same grant, widened");
    assert_eq!(widened.scope, scopes(&["email", "openid", "profile"]));
    // Another audience is another grant.
    let api = consent(&store, &alice, &web, API, &["read:things"]).await;
    assert_ne!(api.id, first.id);
    let found = store
        .find_user_grant(&alice.user_id, &web.client_id, USERINFO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, widened);
    assert!(
        store
            .find_user_grant(&alice.user_id, &web.client_id, "https://other.example/")
            .await
            .unwrap()
            .is_none()
    );
}

/// Two consents at once (two tabs, two nodes): one row, holding both.
async fn concurrent_consents_of_one_user_and_client_make_one_grant(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    for round in 0..20 {
        let audience = format!("https://api{round}.example/");
        let (id_a, id_b) = (new_id(ids::USER_GRANT), new_id(ids::USER_GRANT));
        let (email, profile) = (scopes(&["openid", "email"]), scopes(&["openid", "profile"]));
        let (a, b) = tokio::join!(
            store.grant_user_consent(&id_a, &alice.user_id, &web.client_id, &audience, &email),
            store.grant_user_consent(&id_b, &alice.user_id, &web.client_id, &audience, &profile),
        );
        assert_eq!(a.unwrap().id, b.unwrap().id, "round {round}");
        let filter = UserGrantFilter {
            audience: Some(audience.clone()),
            ..Default::default()
        };
        let grants = store.list_user_grants(&filter, &Page::all()).await.unwrap();
        assert_eq!(grants.len(), 1, "round {round}: {grants:?}");
        assert_eq!(grants[0].scope, scopes(&["email", "openid", "profile"]));
    }
}

async fn grants_are_listed_by_filter_and_page(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let bob = user(&alice.connection_id, "bob@hoekstra.example");
    store.insert_user(&bob, None).await.unwrap();
    let other = client("Other");
    store.insert_client(&other).await.unwrap();
    for (who, app, audience) in [
        (&alice, &web, USERINFO),
        (&alice, &web, API),
        (&alice, &other, USERINFO),
        (&bob, &web, USERINFO),
    ] {
        consent(&store, who, app, audience, &["openid"]).await;
    }
    let count = |filter: UserGrantFilter| {
        let store = store.clone();
        async move { store.count_user_grants(&filter).await.unwrap() }
    };
    assert_eq!(count(UserGrantFilter::default()).await, 4);
    let of_alice = UserGrantFilter {
        user_id: Some(alice.user_id.clone()),
        ..Default::default()
    };
    assert_eq!(count(of_alice.clone()).await, 3);
    assert_eq!(
        count(UserGrantFilter {
            client_id: Some(web.client_id.clone()),
            audience: Some(USERINFO.into()),
            ..Default::default()
        })
        .await,
        2
    );
    // Pages of two, by id, each grant once.
    let page = |offset| Page {
        offset,
        limit: 2,
        after_id: None,
    };
    let first = store.list_user_grants(&of_alice, &page(0)).await.unwrap();
    let second = store.list_user_grants(&of_alice, &page(2)).await.unwrap();
    assert_eq!((first.len(), second.len()), (2, 1));
    assert!(first[0].id < first[1].id && first[1].id < second[0].id);
    assert!(
        first
            .iter()
            .chain(&second)
            .all(|g| g.user_id == alice.user_id && g.scope == scopes(&["openid"]))
    );
}

/// Deleting a grant revokes the refresh-token families of its user, client
/// and audience (families without an API belong to the `/userinfo` grant),
/// and no other.
async fn deleting_a_grant_revokes_the_refresh_tokens_issued_under_it(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let other = client("Other");
    store.insert_client(&other).await.unwrap();
    let now = store.clock().now_unix_millis();
    let later = now + 1_000_000;
    let mut for_api = family_of(&web, &alice, "family-api", later);
    for_api.audience = Some(API.into());
    for (family, token) in [
        (
            family_of(&web, &alice, "family-userinfo", later),
            "rt-userinfo",
        ),
        (for_api, "rt-api"),
        (family_of(&other, &alice, "family-other", later), "rt-other"),
    ] {
        start_family(&store, &family, token, later, &format!("at-{token}")).await;
    }
    let grant = consent(
        &store,
        &alice,
        &web,
        USERINFO,
        &["openid", "offline_access"],
    )
    .await;
    store.delete_user_grant(&grant.id, USERINFO).await.unwrap();
    let active = |token: &'static str| {
        let store = store.clone();
        async move { store.find_refresh_token(token, now).await.unwrap().active }
    };
    assert!(!active("rt-userinfo").await, "issued under the grant");
    assert!(
        store
            .is_access_token_revoked("at-rt-userinfo")
            .await
            .unwrap(),
        "with its access tokens"
    );
    assert!(active("rt-api").await, "another audience's");
    assert!(active("rt-other").await, "another client's");
    assert!(
        store
            .find_user_grant(&alice.user_id, &web.client_id, USERINFO)
            .await
            .unwrap()
            .is_none()
    );
    // All of a user's grants at once.
    consent(&store, &alice, &web, API, &["openid"]).await;
    consent(&store, &alice, &other, USERINFO, &["openid"]).await;
    assert_eq!(
        store
            .delete_user_grants_of_user(&alice.user_id, USERINFO)
            .await
            .unwrap(),
        2
    );
    assert!(!active("rt-api").await);
    assert!(!active("rt-other").await);
    assert_eq!(
        store
            .count_user_grants(&UserGrantFilter::default())
            .await
            .unwrap(),
        0
    );
}

async fn grants_go_with_their_user_or_client(store: Store) {
    let con = connection("users", Strategy::Database);
    store.insert_connection(&con, &[]).await.unwrap();
    let alice = user(&con.id, "alice@hoekstra.example");
    let bob = user(&con.id, "bob@hoekstra.example");
    let web = client("Web");
    let other = client("Other");
    for u in [&alice, &bob] {
        store.insert_user(u, None).await.unwrap();
    }
    for c in [&web, &other] {
        store.insert_client(c).await.unwrap();
    }
    for (u, c) in [(&alice, &web), (&bob, &web), (&bob, &other)] {
        consent(&store, u, c, USERINFO, &["openid", "email"]).await;
    }
    store.delete_user(&alice.user_id).await.unwrap();
    store.delete_client(&other.client_id).await.unwrap();
    let left = store
        .list_user_grants(&UserGrantFilter::default(), &Page::all())
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        (left[0].user_id.as_str(), left[0].client_id.as_str()),
        (bob.user_id.as_str(), web.client_id.as_str())
    );
    // A consent for a missing user is refused.
    crate::assert_missing_reference(
        store
            .grant_user_consent(
                &new_id(ids::USER_GRANT),
                &alice.user_id,
                &web.client_id,
                USERINFO,
                &scopes(&["openid"]),
            )
            .await,
    );
}
