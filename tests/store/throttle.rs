//! Login throttling: windows, and counting under concurrency.

use std::collections::BTreeSet;

use switchyard::store::{Store, ThrottleWindow};

use crate::on_both_backends;

on_both_backends!(login_throttle_windows, login_throttle_concurrent_failures,);

async fn login_throttle_windows(store: Store) {
    let count = |key: &'static str, now: i64, window: ThrottleWindow| {
        let store = store.clone();
        async move {
            store
                .count_login_attempt(key, now, 1000, window)
                .await
                .unwrap()
        }
    };
    // A fixed window opens at the first attempt and closes one length later.
    let fixed = ThrottleWindow::Fixed;
    assert_eq!(count("ip", 0, fixed).await, 1);
    assert_eq!(count("ip", 10, fixed).await, 2);
    assert_eq!(count("ip", 999, fixed).await, 3);
    assert_eq!(count("ip", 1000, fixed).await, 1, "window passed");
    assert_eq!(count("ip", 1999, fixed).await, 2);
    assert_eq!(count("ip", 2000, fixed).await, 1);

    // Consecutive attempts reopen the window until the limit (3) is reached,
    // which then holds for one window from the attempt that reached it.
    let until = ThrottleWindow::UntilLimit(3);
    assert_eq!(count("acct", 0, until).await, 1);
    assert_eq!(count("acct", 900, until).await, 2);
    assert_eq!(count("acct", 1800, until).await, 3, "no gap of a window");
    assert_eq!(count("acct", 2000, until).await, 4);
    assert_eq!(count("acct", 2799, until).await, 5, "held from the third");
    assert_eq!(count("acct", 2800, until).await, 1, "held one window");
    assert_eq!(count("acct", 3800, until).await, 1, "a gap forgets");

    // Other keys are untouched; uncounting and resetting.
    assert_eq!(count("other", 3800, fixed).await, 1);
    store.uncount_login_attempt("acct").await.unwrap();
    assert_eq!(
        count("acct", 3801, until).await,
        1,
        "uncounted to 0, then 1"
    );
    store.reset_login_attempts("acct").await.unwrap();
    assert_eq!(count("acct", 3802, until).await, 1);
    store.uncount_login_attempt("missing").await.unwrap();
    store.reset_login_attempts("missing").await.unwrap();
    assert_eq!(count("ip", 2001, fixed).await, 2);
}

/// Every concurrent failure is counted exactly once: each attempt gets its
/// own number, so a limit holds against a burst of parallel guesses.
async fn login_throttle_concurrent_failures(store: Store) {
    const ATTEMPTS: i64 = 40;
    let tasks: Vec<_> = (0..ATTEMPTS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .count_login_attempt("burst", 5_000, 60_000, ThrottleWindow::UntilLimit(10))
                    .await
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for task in tasks {
        numbers.insert(task.await.unwrap().unwrap());
    }
    assert_eq!(numbers, (1..=ATTEMPTS).collect::<BTreeSet<_>>());
    // Concurrent take-backs are exact too.
    let tasks: Vec<_> = (0..ATTEMPTS / 2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.uncount_login_attempt("burst").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let next = store
        .count_login_attempt("burst", 5_001, 60_000, ThrottleWindow::UntilLimit(10))
        .await
        .unwrap();
    assert_eq!(next, ATTEMPTS / 2 + 1);
}
