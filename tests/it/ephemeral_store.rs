//! The ephemeral-store contract, run against both backends. Each contract is one async fn; the
//! `contracts!` macro turns it into a test on `MemoryStore` and one on `RedisStore`.
//!
//! Redis tests run when `REDIS_URL` is set (`.ci/run` sets it) and use a random key prefix per
//! test, so they can share one server. Expiry is tested by advancing the `Clock`, never sleeping.

use std::sync::Arc;
use std::time::Duration;

use xacthuc::clock::Clock;
use xacthuc::store::ephemeral::{Attempt, EphemeralStore, MemoryStore, RedisStore};

type Store = Arc<dyn EphemeralStore>;

const MINUTE: Duration = Duration::from_secs(60);

fn memory_store() -> (Store, Clock) {
    let clock = Clock::system();
    (Arc::new(MemoryStore::new(clock.clone())), clock)
}

async fn redis_store() -> Option<(Store, Clock)> {
    let url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())?;
    let prefix = format!("test:{}:", uuid::Uuid::new_v4());
    let clock = Clock::system();
    let store = RedisStore::connect(&url, &prefix, clock.clone())
        .await
        .expect("connect to redis");
    Some((Arc::new(store), clock))
}

macro_rules! contracts {
    ($($name:ident),+ $(,)?) => {
        mod on_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (store, clock) = super::memory_store();
                    super::$name(&store, &clock).await;
                }
            )+
        }

        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some((store, clock)) = super::redis_store().await else {
                        eprintln!("REDIS_URL is not set: Redis contract skipped");
                        return;
                    };
                    super::$name(&store, &clock).await;
                }
            )+
        }
    };
}

contracts!(
    put_then_get_roundtrips,
    put_replaces,
    get_of_missing_key_is_none,
    value_expires_after_ttl,
    put_if_absent_stores_only_when_no_live_value,
    take_returns_the_value_once,
    take_under_contention_has_one_winner,
    compare_and_delete_deletes_only_a_matching_value,
    delete_removes_the_key,
    increment_counts_within_its_window_then_restarts,
    take_attempt_counts_up_to_the_limit_within_its_window,
    take_attempt_under_contention_allows_exactly_the_limit,
    give_back_returns_an_attempt_and_keeps_the_window,
    exists_any_reports_whether_any_key_is_live,
    get_many_reads_live_values_in_order,
    binary_and_empty_values_roundtrip,
    ping_answers,
    compare_and_swap_replaces_only_the_expected_live_value,
    compare_and_swap_under_contention_has_one_winner,
);

async fn put_then_get_roundtrips(store: &Store, _clock: &Clock) {
    store.put("k", b"hello", MINUTE).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"hello".to_vec()));
    // Reading does not consume.
    assert_eq!(store.get("k").await.unwrap(), Some(b"hello".to_vec()));
}

async fn put_replaces(store: &Store, _clock: &Clock) {
    store.put("k", b"first", MINUTE).await.unwrap();
    store.put("k", b"second", MINUTE).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"second".to_vec()));
}

async fn get_of_missing_key_is_none(store: &Store, _clock: &Clock) {
    assert_eq!(store.get("missing").await.unwrap(), None);
}

async fn value_expires_after_ttl(store: &Store, clock: &Clock) {
    store.put("k", b"v", MINUTE).await.unwrap();
    clock.advance(Duration::from_secs(59));
    assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
    assert!(store.exists_any(&["k".to_owned()]).await.unwrap());

    clock.advance(Duration::from_secs(2));
    assert_eq!(store.get("k").await.unwrap(), None);
    assert!(!store.exists_any(&["k".to_owned()]).await.unwrap());
    assert_eq!(store.take("k").await.unwrap(), None);
}

async fn put_if_absent_stores_only_when_no_live_value(store: &Store, clock: &Clock) {
    assert!(store.put_if_absent("k", b"first", MINUTE).await.unwrap());
    assert!(!store.put_if_absent("k", b"second", MINUTE).await.unwrap());
    assert_eq!(store.get("k").await.unwrap(), Some(b"first".to_vec()));

    clock.advance(Duration::from_secs(61));
    assert!(store.put_if_absent("k", b"third", MINUTE).await.unwrap());
    assert_eq!(store.get("k").await.unwrap(), Some(b"third".to_vec()));
}

async fn take_returns_the_value_once(store: &Store, _clock: &Clock) {
    store.put("k", b"code", MINUTE).await.unwrap();
    assert_eq!(store.take("k").await.unwrap(), Some(b"code".to_vec()));
    assert_eq!(store.take("k").await.unwrap(), None);
    assert_eq!(store.get("k").await.unwrap(), None);
}

async fn take_under_contention_has_one_winner(store: &Store, _clock: &Clock) {
    store.put("k", b"code", MINUTE).await.unwrap();
    let takers: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.take("k").await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for taker in takers {
        if let Some(value) = taker.await.unwrap() {
            assert_eq!(value, b"code");
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn compare_and_delete_deletes_only_a_matching_value(store: &Store, _clock: &Clock) {
    assert!(!store.compare_and_delete("k", b"a").await.unwrap());

    store.put("k", b"a", MINUTE).await.unwrap();
    assert!(!store.compare_and_delete("k", b"b").await.unwrap());
    assert_eq!(store.get("k").await.unwrap(), Some(b"a".to_vec()));

    assert!(store.compare_and_delete("k", b"a").await.unwrap());
    assert_eq!(store.get("k").await.unwrap(), None);
}

async fn delete_removes_the_key(store: &Store, _clock: &Clock) {
    store.put("k", b"v", MINUTE).await.unwrap();
    store.delete("k").await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), None);
    // Deleting an absent key is not an error.
    store.delete("k").await.unwrap();
}

async fn increment_counts_within_its_window_then_restarts(store: &Store, clock: &Clock) {
    assert_eq!(store.count("n").await.unwrap(), 0);
    assert_eq!(store.increment("n", MINUTE).await.unwrap(), 1);
    assert_eq!(store.increment("n", MINUTE).await.unwrap(), 2);
    clock.advance(Duration::from_secs(40));
    assert_eq!(store.increment("n", MINUTE).await.unwrap(), 3);
    // Reading a count does not change it.
    assert_eq!(store.count("n").await.unwrap(), 3);
    assert_eq!(store.count("n").await.unwrap(), 3);

    // The window started at the first increment; later ones did not extend it.
    clock.advance(Duration::from_secs(21));
    assert_eq!(store.count("n").await.unwrap(), 0);
    assert_eq!(store.increment("n", MINUTE).await.unwrap(), 1);
    assert_eq!(store.increment("n", MINUTE).await.unwrap(), 2);

    // Counters are independent per key.
    assert_eq!(store.increment("other", MINUTE).await.unwrap(), 1);
}

async fn take_attempt_counts_up_to_the_limit_within_its_window(store: &Store, clock: &Clock) {
    for used in 1..=3 {
        assert_eq!(
            store.take_attempt("a", 3, MINUTE).await.unwrap(),
            Attempt::Allowed { used }
        );
    }
    // A refused attempt is not counted.
    assert_eq!(
        store.take_attempt("a", 3, MINUTE).await.unwrap(),
        Attempt::Refused
    );
    assert_eq!(store.count("a").await.unwrap(), 3);
    // A higher limit on the same counter (the limit is the caller's rule, not stored).
    assert_eq!(
        store.take_attempt("a", 4, MINUTE).await.unwrap(),
        Attempt::Allowed { used: 4 }
    );
    // The window started at the first attempt.
    clock.advance(Duration::from_secs(61));
    assert_eq!(store.count("a").await.unwrap(), 0);
    assert_eq!(
        store.take_attempt("a", 3, MINUTE).await.unwrap(),
        Attempt::Allowed { used: 1 }
    );
    assert_eq!(
        store.take_attempt("none", 0, MINUTE).await.unwrap(),
        Attempt::Refused,
        "a limit of 0 allows nothing"
    );
}

/// The bug of checking, then counting: fifty parallel attempts against a limit of five must
/// let exactly five through, each with its own number.
async fn take_attempt_under_contention_allows_exactly_the_limit(store: &Store, _clock: &Clock) {
    let tries = (0..50).map(|_| {
        let store = Arc::clone(store);
        async move { store.take_attempt("busy", 5, MINUTE).await.unwrap() }
    });
    let mut allowed: Vec<u64> = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter_map(|a| match a {
            Attempt::Allowed { used } => Some(used),
            Attempt::Refused => None,
        })
        .collect();
    allowed.sort_unstable();
    assert_eq!(allowed, [1, 2, 3, 4, 5]);
    assert_eq!(store.count("busy").await.unwrap(), 5);
}

async fn give_back_returns_an_attempt_and_keeps_the_window(store: &Store, clock: &Clock) {
    store.take_attempt("g", 2, MINUTE).await.unwrap();
    store.take_attempt("g", 2, MINUTE).await.unwrap();
    store.give_back("g").await.unwrap();
    assert_eq!(store.count("g").await.unwrap(), 1);
    assert_eq!(
        store.take_attempt("g", 2, MINUTE).await.unwrap(),
        Attempt::Allowed { used: 2 }
    );
    store.give_back("g").await.unwrap();
    store.give_back("g").await.unwrap();
    store.give_back("g").await.unwrap();
    assert_eq!(store.count("g").await.unwrap(), 0, "never below zero");
    // Giving back does not restart the window.
    clock.advance(Duration::from_secs(61));
    assert_eq!(store.count("g").await.unwrap(), 0);
    store.give_back("missing").await.unwrap();
    assert_eq!(
        store.count("missing").await.unwrap(),
        0,
        "nothing to give back"
    );
}

async fn exists_any_reports_whether_any_key_is_live(store: &Store, clock: &Clock) {
    let keys = ["short".to_owned(), "long".to_owned(), "missing".to_owned()];
    assert!(!store.exists_any(&[]).await.unwrap());
    assert!(!store.exists_any(&keys).await.unwrap());

    store.put("short", b"v", MINUTE).await.unwrap();
    store.put("long", b"v", 2 * MINUTE).await.unwrap();
    assert!(store.exists_any(&keys).await.unwrap());
    assert!(store.exists_any(&keys[1..]).await.unwrap());

    clock.advance(Duration::from_secs(61));
    assert!(!store.exists_any(&keys[..1]).await.unwrap());
    assert!(store.exists_any(&keys).await.unwrap());

    clock.advance(MINUTE);
    assert!(!store.exists_any(&keys).await.unwrap());
}

async fn get_many_reads_live_values_in_order(store: &Store, clock: &Clock) {
    assert!(store.get_many(&[]).await.unwrap().is_empty());
    let keys = ["short".to_owned(), "missing".to_owned(), "long".to_owned()];
    store.put("short", b"s", MINUTE).await.unwrap();
    store.put("long", b"", 2 * MINUTE).await.unwrap();
    assert_eq!(
        store.get_many(&keys).await.unwrap(),
        [Some(b"s".to_vec()), None, Some(Vec::new())],
        "each key's value in the order asked; an empty value is present"
    );

    clock.advance(Duration::from_secs(61));
    assert_eq!(
        store.get_many(&keys).await.unwrap(),
        [None, None, Some(Vec::new())],
        "an expired value is absent"
    );
}

async fn binary_and_empty_values_roundtrip(store: &Store, _clock: &Clock) {
    // Every byte value, which is not valid UTF-8 (0x80.. alone, 0xff never).
    let binary: Vec<u8> = (0..=255).collect();
    store.put("bin", &binary, MINUTE).await.unwrap();
    assert_eq!(store.get("bin").await.unwrap(), Some(binary.clone()));
    assert!(store.compare_and_delete("bin", &binary).await.unwrap());

    // An empty value is present, not absent.
    store.put("empty", b"", MINUTE).await.unwrap();
    assert_eq!(store.get("empty").await.unwrap(), Some(Vec::new()));
    assert_eq!(store.take("empty").await.unwrap(), Some(Vec::new()));
}

async fn ping_answers(store: &Store, _clock: &Clock) {
    store.ping().await.unwrap();
}

async fn compare_and_swap_replaces_only_the_expected_live_value(store: &Store, clock: &Clock) {
    // A missing key is not created.
    assert!(
        !store
            .compare_and_swap("k", b"a", b"b", MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(store.get("k").await.unwrap(), None);

    store.put("k", b"a", MINUTE).await.unwrap();
    assert!(
        !store
            .compare_and_swap("k", b"x", b"b", MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(store.get("k").await.unwrap(), Some(b"a".to_vec()));
    assert!(
        store
            .compare_and_swap("k", b"a", b"b", MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(store.get("k").await.unwrap(), Some(b"b".to_vec()));

    // The swap sets the new lifetime.
    assert!(
        store
            .compare_and_swap("k", b"b", b"c", 2 * MINUTE)
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(90));
    assert_eq!(store.get("k").await.unwrap(), Some(b"c".to_vec()));

    // Deleted or expired meanwhile: nothing comes back.
    store.delete("k").await.unwrap();
    assert!(
        !store
            .compare_and_swap("k", b"c", b"d", MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(store.get("k").await.unwrap(), None);
    store.put("e", b"a", MINUTE).await.unwrap();
    clock.advance(Duration::from_secs(61));
    assert!(
        !store
            .compare_and_swap("e", b"a", b"b", MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(store.get("e").await.unwrap(), None);
}

async fn compare_and_swap_under_contention_has_one_winner(store: &Store, _clock: &Clock) {
    store.put("k", b"v0", MINUTE).await.unwrap();
    let swappers: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let value = format!("v{}", i + 1);
                store
                    .compare_and_swap("k", b"v0", value.as_bytes(), MINUTE)
                    .await
                    .unwrap()
                    .then_some(value)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for swapper in swappers {
        winners.extend(swapper.await.unwrap());
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(
        store.get("k").await.unwrap(),
        Some(winners[0].as_bytes().to_vec())
    );
}

/// A down Redis yields an error promptly instead of hanging.
#[tokio::test]
async fn redis_connect_to_unreachable_server_fails() {
    // Port 1 (tcpmux) has no listener on test machines, so the connection is refused.
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        RedisStore::connect("redis://127.0.0.1:1", "test:", Clock::system()),
    )
    .await
    .expect("connect gives up within its own timeout");
    assert!(result.is_err());
}
