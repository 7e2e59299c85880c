//! Refresh-token families under concurrency.

use switchyard::store::{RefreshOutcome, Store};

use crate::{alice_and_web_client, family_of, on_both_backends, start_family};

on_both_backends!(a_rotation_racing_a_revocation_never_escapes_it,);

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
