//! Refresh-token families: every way a use can go (a live token rotates in
//! one round trip on PostgreSQL and two on SQLite, anything else takes a
//! transaction of its own), and families under concurrency.

use switchyard::model::user::User;
use switchyard::store::{RefreshGrant, RefreshOutcome, RefreshUse, Renewal, Store};

use crate::{
    alice_and_web_client, assert_not_found, family_of, on_both_backends, organization, start_family,
};

on_both_backends!(
    a_rotation_racing_a_revocation_never_escapes_it,
    a_code_replay_racing_the_start_of_its_family_leaves_nothing_live,
    a_retry_within_the_leeway_rotates_again_and_a_later_one_revokes,
    a_non_rotating_use_keeps_the_token_and_links_its_access_token,
    a_live_token_of_an_ended_family_rotates_nothing,
    a_token_presented_as_another_familys_is_not_found,
    a_grant_reads_its_user_and_membership_at_once,
    a_refresh_reads_its_token_user_and_membership_at_once,
);

/// A refresh racing the revocation of its family: whichever wins, an access
/// token issued by a rotation that succeeded is listed as revoked.
async fn a_rotation_racing_a_revocation_never_escapes_it(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = store.clock().now_unix_millis();
    for round in 0..30 {
        let family = format!("race-{round}");
        let token = format!("race-token-{round}");
        let next = format!("race-next-{round}");
        let access = format!("race-at-{round}");
        start_family(
            &store,
            &family_of(&web, &alice, &family, now + 1_000_000),
            &token,
            now + 100_000,
            "race-first",
        )
        .await;
        let (rotated, revoked) = tokio::join!(
            store.rotate_refresh_token(&token, &next, now, now + 100_000, &access),
            store.revoke_refresh_grant(&family),
        );
        assert!(revoked.unwrap(), "round {round}: the family was live");
        if matches!(rotated.unwrap(), RefreshOutcome::Rotated(_)) {
            assert!(
                store.is_access_token_revoked(&access).await.unwrap(),
                "round {round}: a rotation escaped the revocation"
            );
        }
        assert!(
            !store
                .find_refresh_token(&next, now)
                .await
                .map(|t| t.active)
                .unwrap_or(false)
        );
    }
}

/// The exchange of a code starting its family while the code is replayed:
/// whichever wins, no token of the family is live afterwards and the access
/// token issued with its first token is listed as revoked.
async fn a_code_replay_racing_the_start_of_its_family_leaves_nothing_live(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = store.clock().now_unix_millis();
    for round in 0..30 {
        let code = format!("replayed-{round}");
        let token = format!("replayed-token-{round}");
        let access = format!("replayed-at-{round}");
        store
            .insert_authorization_code(&code, &web.client_id, "{}", now + 60_000)
            .await
            .unwrap();
        store
            .consume_authorization_code(&code, &web.client_id, now, "code-at")
            .await
            .unwrap();
        let family = family_of(
            &web,
            &alice,
            &format!("replayed-family-{round}"),
            now + 1_000_000,
        );
        let (started, replayed) = tokio::join!(
            store.insert_refresh_grant(&code, &family, &token, now + 100_000, &access),
            store.revoke_what_code_issued(&code, &web.client_id, now),
        );
        assert!(replayed.unwrap(), "round {round}: the code was used");
        if started.unwrap() {
            assert!(
                store.is_access_token_revoked(&access).await.unwrap(),
                "round {round}: a family escaped the replay"
            );
        }
        assert!(
            !store
                .find_refresh_token(&token, now)
                .await
                .map(|t| t.active)
                .unwrap_or(false),
            "round {round}"
        );
    }
}

/// Presents `token` of `family` with a leeway, at `now`.
async fn rotate_with_leeway(
    store: &Store,
    family: &switchyard::store::RefreshGrant,
    token: &str,
    next: &str,
    now: i64,
) -> RefreshOutcome {
    store
        .use_refresh_token(&RefreshUse {
            family,
            token_hash: token,
            now,
            expires_at: now + 100_000,
            access_token_id: &format!("at-{next}"),
            renewal: Renewal::Rotate {
                next_hash: next,
                leeway_ms: 10_000,
            },
        })
        .await
        .unwrap()
}

async fn a_retry_within_the_leeway_rotates_again_and_a_later_one_revokes(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = store.clock().now_unix_millis();
    let family = family_of(&web, &alice, "leeway", now + 1_000_000);
    start_family(&store, &family, "l1", now + 100_000, "at-l1").await;
    let rotated = |outcome: &RefreshOutcome| matches!(outcome, RefreshOutcome::Rotated(g) if g.id == "leeway");
    assert!(rotated(
        &rotate_with_leeway(&store, &family, "l1", "l2", now).await
    ));
    // The response was lost: the client presents l1 again, within the leeway.
    assert!(rotated(
        &rotate_with_leeway(&store, &family, "l1", "l3", now + 1_000).await
    ));
    assert!(
        store
            .find_refresh_token("l3", now + 1_000)
            .await
            .unwrap()
            .active
    );
    // Once a later token was used, l1 is no longer the last used: a reuse.
    assert!(rotated(
        &rotate_with_leeway(&store, &family, "l3", "l4", now + 2_000).await
    ));
    assert_eq!(
        rotate_with_leeway(&store, &family, "l1", "l5", now + 3_000).await,
        RefreshOutcome::Reused {
            grant_id: "leeway".into()
        }
    );
    for jti in ["at-l1", "at-l2", "at-l3", "at-l4"] {
        assert!(store.is_access_token_revoked(jti).await.unwrap(), "{jti}");
    }
    assert!(!store.is_access_token_revoked("at-l5").await.unwrap());
    assert!(
        !store
            .find_refresh_token("l4", now + 3_000)
            .await
            .unwrap()
            .active
    );

    // Past the leeway, the same retry is a reuse.
    let family = family_of(&web, &alice, "late", now + 1_000_000);
    start_family(&store, &family, "m1", now + 100_000, "at-m1").await;
    assert!(matches!(
        rotate_with_leeway(&store, &family, "m1", "m2", now).await,
        RefreshOutcome::Rotated(_)
    ));
    assert_eq!(
        rotate_with_leeway(&store, &family, "m1", "m3", now + 10_000).await,
        RefreshOutcome::Reused {
            grant_id: "late".into()
        }
    );
}

async fn a_non_rotating_use_keeps_the_token_and_links_its_access_token(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = store.clock().now_unix_millis();
    let family = family_of(&web, &alice, "kept", now + 1_000_000);
    start_family(&store, &family, "k1", now + 1_000, "at-k1").await;
    for (i, at) in [(1, "at-k2"), (2, "at-k3")] {
        let at_time = now + i * 500;
        let outcome = store
            .use_refresh_token(&RefreshUse {
                family: &family,
                token_hash: "k1",
                now: at_time,
                expires_at: at_time + 1_000,
                access_token_id: at,
                renewal: Renewal::Keep,
            })
            .await
            .unwrap();
        assert!(matches!(outcome, RefreshOutcome::Rotated(g) if g.id == "kept"));
        // Still live, its idle end pushed (past the first one's).
        let kept = store.find_refresh_token("k1", at_time).await.unwrap();
        assert!(kept.active);
        assert_eq!(kept.expires_at, at_time + 1_000);
    }
    // The access tokens issued with it go with the family.
    assert!(store.revoke_refresh_grant("kept").await.unwrap());
    for jti in ["at-k1", "at-k2", "at-k3"] {
        assert!(store.is_access_token_revoked(jti).await.unwrap(), "{jti}");
    }
    assert!(!store.find_refresh_token("k1", now).await.unwrap().active);
}

async fn a_live_token_of_an_ended_family_rotates_nothing(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = store.clock().now_unix_millis();
    // Revoked: its token is still unused and unexpired, but nothing rotates.
    let revoked = family_of(&web, &alice, "revoked", now + 1_000_000);
    start_family(&store, &revoked, "r1", now + 100_000, "at-r1").await;
    assert!(store.revoke_refresh_grant("revoked").await.unwrap());
    // (Keep first: a rotation claims the token, after which it is used.)
    for renewal in [
        Renewal::Keep,
        Renewal::Rotate {
            next_hash: "r2",
            leeway_ms: 0,
        },
    ] {
        let outcome = store
            .use_refresh_token(&RefreshUse {
                family: &revoked,
                token_hash: "r1",
                now,
                expires_at: now + 100_000,
                access_token_id: "at-r2",
                renewal,
            })
            .await
            .unwrap();
        assert_eq!(outcome, RefreshOutcome::Inactive);
    }
    assert_not_found(store.find_refresh_token("r2", now).await);
    // Past its absolute end, with a token that would live longer.
    let ended = family_of(&web, &alice, "ended", now + 1_000);
    start_family(&store, &ended, "e1", now + 100_000, "at-e1").await;
    assert_eq!(
        store
            .rotate_refresh_token("e1", "e2", now + 2_000, now + 100_000, "at-e2")
            .await
            .unwrap(),
        RefreshOutcome::Inactive
    );
    assert_not_found(store.find_refresh_token("e2", now).await);
}

async fn a_token_presented_as_another_familys_is_not_found(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let now = store.clock().now_unix_millis();
    let mine = family_of(&web, &alice, "mine", now + 1_000_000);
    let other = family_of(&web, &alice, "other", now + 1_000_000);
    start_family(&store, &mine, "o1", now + 100_000, "at-o1").await;
    start_family(&store, &other, "p1", now + 100_000, "at-p1").await;
    assert_not_found(
        store
            .use_refresh_token(&RefreshUse {
                family: &other,
                token_hash: "o1",
                now,
                expires_at: now + 100_000,
                access_token_id: "at-o2",
                renewal: Renewal::Rotate {
                    next_hash: "o2",
                    leeway_ms: 0,
                },
            })
            .await,
    );
    // Nothing was written: the token still rotates in its own family.
    assert!(store.find_refresh_token("o1", now).await.unwrap().active);
    assert!(matches!(
        store
            .rotate_refresh_token("o1", "o3", now, now + 100_000, "at-o3")
            .await
            .unwrap(),
        RefreshOutcome::Rotated(g) if g.id == "mine"
    ));
}

async fn a_grant_reads_its_user_and_membership_at_once(store: Store) {
    let (alice, _web) = alice_and_web_client(&store).await;
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    let (user, member) = store
        .get_user_and_membership(&alice.user_id, None)
        .await
        .unwrap();
    assert_eq!(user, alice);
    assert!(!member);
    let member_of = |org_id: String| {
        let store = store.clone();
        let user_id = alice.user_id.clone();
        async move {
            store
                .get_user_and_membership(&user_id, Some(&org_id))
                .await
                .unwrap()
                .1
        }
    };
    assert!(!member_of(org.id.clone()).await);
    store
        .insert_members(&org.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();
    assert!(member_of(org.id.clone()).await);
    assert!(!member_of("org_unknown".into()).await);
    assert_not_found(store.get_user_and_membership("nobody", None).await);
}

/// What a refresh checks, read at once: the token as `find_refresh_token`
/// sees it, the family's user as stored, and whether they are still a
/// member of the family's organization.
async fn a_refresh_reads_its_token_user_and_membership_at_once(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let org = organization("acme");
    store.insert_organization(&org, &[]).await.unwrap();
    store
        .insert_members(&org.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();
    let now = store.clock().now_unix_millis();
    let in_org = RefreshGrant {
        organization_id: Some(org.id.clone()),
        ..family_of(&web, &alice, "with-org", now + 1_000_000)
    };
    start_family(&store, &in_org, "org-token", now + 100_000, "org-at").await;
    start_family(
        &store,
        &family_of(&web, &alice, "without-org", now + 1_000_000),
        "plain-token",
        now + 100_000,
        "plain-at",
    )
    .await;

    let (state, user, member) = store
        .find_refresh_token_with_user("org-token", now)
        .await
        .unwrap();
    assert_eq!(
        state,
        store.find_refresh_token("org-token", now).await.unwrap()
    );
    assert!(state.active);
    assert_eq!(user, alice);
    assert!(member);
    let (_, _, member) = store
        .find_refresh_token_with_user("plain-token", now)
        .await
        .unwrap();
    assert!(!member, "a family without an organization");

    store
        .delete_members(&org.id, std::slice::from_ref(&alice.user_id))
        .await
        .unwrap();
    let (_, _, member) = store
        .find_refresh_token_with_user("org-token", now)
        .await
        .unwrap();
    assert!(!member, "removed from the organization");
    let blocked = User {
        blocked: true,
        ..alice.clone()
    };
    store.update_user(&blocked).await.unwrap();
    let (_, user, _) = store
        .find_refresh_token_with_user("org-token", now)
        .await
        .unwrap();
    assert!(user.blocked);
    assert_not_found(store.find_refresh_token_with_user("unknown", now).await);
}
