//! Paging cursors, on both adapters: the store refuses a query cursor that is not a key of the
//! queried partition (and index); the cursor key is made once and shared by every process; a
//! signed cursor of another list or profile, or an edited one, is refused (400).

use std::sync::Arc;

use serde_json::{Value, json};
use shared::app::App;
use shared::config::Config;
use shared::domain::cursor;
use shared::refusal::Refusal;
use shared::store::{GSI1PK, GSI1SK, Item, Query, StoreError, Table};
use tenantry_tests::api::Api;
use uuid::Uuid;

/// Instantiates every store case for one adapter.
macro_rules! store_cases {
    ($module:ident, $fixture:path, [$($case:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($fixture().await).await;
                }
            )*
        }
    };
}

store_cases!(
    embedded_store,
    tenantry_tests::fixtures::embedded_table,
    [
        a_query_cursor_from_another_partition_is_refused,
        a_gsi1_cursor_from_another_index_partition_is_refused,
    ]
);
store_cases!(
    dynamodb_store,
    tenantry_tests::fixtures::dynamo_table,
    [
        a_query_cursor_from_another_partition_is_refused,
        a_gsi1_cursor_from_another_index_partition_is_refused,
    ]
);

tenantry_tests::on_both_adapters!(
    the_cursor_key_is_made_once_and_shared_by_every_process,
    a_configured_cursor_secret_is_used,
);

fn item(pk: &str, sk: &str, gsi: Option<(&str, &str)>) -> Item {
    let mut value = json!({"PK": pk, "SK": sk, "n": 1});
    if let (Some((gpk, gsk)), Some(map)) = (gsi, value.as_object_mut()) {
        map.insert(GSI1PK.into(), gpk.into());
        map.insert(GSI1SK.into(), gsk.into());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn sks(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["SK"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn a_query_cursor_from_another_partition_is_refused(table: Arc<dyn Table>) {
    let (a, b) = (
        format!("A#{}", Uuid::now_v7()),
        format!("B#{}", Uuid::now_v7()),
    );
    for pk in [&a, &b] {
        for sk in ["X#1", "X#2", "X#3"] {
            table.put(item(pk, sk, None), None).await.expect("put");
        }
    }
    let first_of_b = table
        .query(Query::partition(b.clone()).limit(1))
        .await
        .expect("query");
    let cursor_of_b = first_of_b.next.expect("more follow");
    // B's cursor on A's partition: refused, in either direction.
    for query in [
        Query::partition(a.clone()).after(Some(cursor_of_b.clone())),
        Query::partition(a.clone())
            .prefix("X#")
            .after(Some(cursor_of_b.clone())),
        Query::partition(a.clone())
            .backward()
            .after(Some(cursor_of_b.clone())),
    ] {
        assert!(
            matches!(table.query(query).await, Err(StoreError::Invalid(_))),
            "a cursor of another partition was accepted"
        );
    }
    // A cursor without its key attributes: refused.
    let mut partial = cursor_of_b.clone();
    partial.remove("SK");
    assert!(matches!(
        table
            .query(Query::partition(b.clone()).after(Some(partial)))
            .await,
        Err(StoreError::Invalid(_))
    ));
    // Its own partition resumes after it.
    let rest = table
        .query(Query::partition(b.clone()).after(Some(cursor_of_b)))
        .await
        .expect("resumed");
    assert_eq!(sks(&rest.items), ["X#2", "X#3"]);
}

async fn a_gsi1_cursor_from_another_index_partition_is_refused(table: Arc<dyn Table>) {
    let (a, b) = (
        format!("GA#{}", Uuid::now_v7()),
        format!("GB#{}", Uuid::now_v7()),
    );
    for (n, gpk) in [&a, &a, &b, &b].into_iter().enumerate() {
        table
            .put(
                item(&format!("P#{n}"), "S", Some((gpk, &format!("I#{n}")))),
                None,
            )
            .await
            .expect("put");
    }
    let first_of_b = table
        .query(Query::gsi1(b.clone()).limit(1))
        .await
        .expect("query");
    let cursor_of_b = first_of_b.next.expect("more follow");
    assert!(matches!(
        table
            .query(Query::gsi1(a.clone()).after(Some(cursor_of_b.clone())))
            .await,
        Err(StoreError::Invalid(_))
    ));
    // A table cursor on the index (no index key): refused.
    let table_cursor = table
        .query(Query::partition("P#0"))
        .await
        .expect("query")
        .items
        .first()
        .map(|i| {
            let mut key = Item::new();
            key.insert("PK".into(), i["PK"].clone());
            key.insert("SK".into(), i["SK"].clone());
            key
        })
        .expect("an item");
    assert!(matches!(
        table
            .query(Query::gsi1(a.clone()).after(Some(table_cursor)))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let rest = table
        .query(Query::gsi1(b.clone()).after(Some(cursor_of_b)))
        .await
        .expect("resumed");
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0]["GSI1SK"], "I#3");
}

fn next_key() -> Item {
    let mut key = Item::new();
    key.insert("PK".into(), "PROFILE#p".into());
    key.insert("SK".into(), "RUNUSER#u".into());
    key
}

async fn the_cursor_key_is_made_once_and_shared_by_every_process(api: Api) {
    // Two "processes" on one table: the first use makes the key, the other reads it.
    let other = App::new(api.app.table.clone(), Config::default());
    let (one, two) = tokio::join!(cursor::key(&api.app), cursor::key(&other));
    let (one, two) = (one.expect("a key"), two.expect("a key"));
    let pid = Uuid::now_v7();
    let made = cursor::encode(&one, "run-users", pid, &next_key()).expect("encoded");
    assert_eq!(
        cursor::decode(&two, "run-users", pid, &made).expect("accepted elsewhere"),
        next_key()
    );
    // Later uses read the same key.
    let again = cursor::key(&other).await.expect("a key");
    assert_eq!(
        cursor::decode(&again, "run-users", pid, &made).expect("accepted later"),
        next_key()
    );
    // Bound to the list and the profile.
    for (list, profile) in [("policies", pid), ("run-users", Uuid::now_v7())] {
        assert!(matches!(
            cursor::decode(&again, list, profile, &made),
            Err(Refusal::InvalidCursor(_))
        ));
    }
}

async fn a_configured_cursor_secret_is_used(api: Api) {
    let config = |secret: &str| Config {
        cursor_secret: Some(secret.to_owned()),
        ..Config::default()
    };
    let first = App::new(api.app.table.clone(), config(&"s".repeat(40)));
    let second = App::new(api.app.table.clone(), config(&"s".repeat(40)));
    let rotated = App::new(api.app.table.clone(), config(&"t".repeat(40)));
    let pid = Uuid::now_v7();
    let made = cursor::encode(
        &cursor::key(&first).await.expect("a key"),
        "run-users",
        pid,
        &next_key(),
    )
    .expect("encoded");
    let key = cursor::key(&second).await.expect("a key");
    assert_eq!(
        cursor::decode(&key, "run-users", pid, &made).expect("same secret"),
        next_key()
    );
    let key = cursor::key(&rotated).await.expect("a key");
    assert!(matches!(
        cursor::decode(&key, "run-users", pid, &made),
        Err(Refusal::InvalidCursor(_))
    ));
    // Nothing was stored: the configured secret needs no item.
    assert!(
        api.app
            .table
            .get(&shared::keys::cursor_key())
            .await
            .expect("read")
            .is_none()
    );
}

#[test]
fn an_invalid_cursor_is_a_400_invalid_cursor_problem() {
    let error = shared::http::ApiError::Refused(Refusal::InvalidCursor("no".into()));
    assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
    assert_eq!(error.kind().0, "invalid-cursor");
}
