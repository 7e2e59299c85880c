//! Writes through the store's one writer (on SQLite a pool of one
//! connection): many at once, transactions among them, all complete.

use std::time::Duration;

use switchyard::store::{Backend, Store, ThrottleWindow};

use crate::{alice_and_web_client, on_both_backends, organization};

on_both_backends!(writes_at_once_all_complete, the_pools_are_reported);

/// Each kind of write the store makes (a read-modify-write transaction, a
/// multi-statement transaction, an upsert returning its row, a plain insert)
/// from 32 tasks at once, reads between them. A write that waited for a
/// second writer connection while holding one would time out here (on
/// SQLite there is one): every write must succeed, and count.
async fn writes_at_once_all_complete(store: Store) {
    let (alice, web) = alice_and_web_client(&store).await;
    let org = organization("crowd");
    store.insert_organization(&org, &[]).await.unwrap();
    let now = store.clock().now_unix_millis();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (store, client_id) = (store.clone(), web.client_id.clone());
            let (org_id, user_id) = (org.id.clone(), alice.user_id.clone());
            tokio::spawn(async move {
                store
                    .update_client_with(&client_id, |mut client| {
                        client.description = Some(format!("edited by {i}"));
                        Ok::<_, ()>(client)
                    })
                    .await
                    .unwrap()
                    .unwrap();
                store.get_client(&client_id).await.unwrap();
                store
                    .insert_members(&org_id, std::slice::from_ref(&user_id))
                    .await
                    .unwrap();
                store
                    .count_login_attempt("crowd", now, 60_000, ThrottleWindow::Fixed)
                    .await
                    .unwrap();
                assert!(
                    store
                        .claim_setting(&format!("crowd-{i}"), "x")
                        .await
                        .unwrap()
                );
            })
        })
        .collect();
    let all = async {
        for task in tasks {
            task.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the writes completed");
    assert_eq!(
        store
            .count_login_attempt("crowd", now, 60_000, ThrottleWindow::Fixed)
            .await
            .unwrap(),
        33,
        "each upsert counted once"
    );
    assert_eq!(store.count_members(&org.id).await.unwrap(), 1);
}

/// The metrics' view of the pools: on SQLite the readers, the one writer,
/// the write queue's own connection (open once it wrote) and the hot
/// reads' (one idle after a read), on PostgreSQL the one pool all use.
async fn the_pools_are_reported(store: Store) {
    // A queued write and a hot read on SQLite: their connections open.
    let (alice, web) = alice_and_web_client(&store).await;
    store
        .insert_authorization_code("pools-code", &web.client_id, "{}", i64::MAX)
        .await
        .unwrap();
    let (user, member) = store
        .get_user_and_membership(&alice.user_id, None)
        .await
        .unwrap();
    assert_eq!((user.user_id, member), (alice.user_id, false));
    let pools: Vec<_> = store
        .pool_usage()
        .iter()
        .map(|pool| (pool.name, pool.max))
        .collect();
    match store.backend() {
        Backend::Sqlite => {
            // The hot reads keep one connection per core, at least four.
            let cores = std::thread::available_parallelism().unwrap().get() as u32;
            assert_eq!(
                pools,
                [
                    ("read", 8),
                    ("write", 1),
                    ("write_queue", 1),
                    ("read_inline", cores.max(4))
                ]
            );
            let usage = store.pool_usage();
            assert_eq!((usage[2].open, usage[2].in_use()), (1, 0));
            assert_eq!((usage[3].open, usage[3].in_use()), (1, 0));
        }
        Backend::Postgres => assert_eq!(pools, [("read_write", 16)]),
    }
    // What the quiet-moment trim watches: every pool's open connections
    // (at least the one each pool opened when the store connected).
    let open: u32 = store.pool_usage().iter().map(|pool| pool.open).sum();
    assert!(open >= 1);
    assert_eq!(store.open_connections(), open);
}
