//! Transactions: all or nothing, refused when invalid, checks that write nothing.

use std::sync::Arc;

use serde_json::json;
use shared::store::{
    Condition, Item, MAX_TRANSACTION_WRITES, StoreError, Table, Update, Write, scan_all,
};

use crate::{item, key, must_get};

tenantry_tests::on_both_adapters!(
    worker_threads = 4;
    transaction_is_all_or_nothing,
    transaction_touching_a_key_twice_is_invalid,
    check_writes_nothing,
);

async fn transaction_is_all_or_nothing(table: Arc<dyn Table>) {
    let a = item("TX#A", "ITEM", json!({"n": 1}));
    let c = item("TX#C", "ITEM", json!({"v": "c"}));
    let d = item("TX#D", "ITEM", json!({"v": "d"}));
    for seed in [&a, &c, &d] {
        table.put(seed.clone(), None).await.expect("seed");
    }
    let b = item("TX#B", "ITEM", json!({"v": "b", "nothing": null}));

    // Write 3's condition fails (D exists), and so does write 4's (E does not).
    let writes = vec![
        Write::put_new(b.clone()),
        Write::update(key("TX#A", "ITEM"), Update::new().add("n", 1)),
        Write::delete(key("TX#C", "ITEM")).when(Condition::Exists),
        Write::put_new(item("TX#D", "ITEM", json!({"v": "overwritten"}))),
        Write::Check {
            key: key("TX#E", "ITEM"),
            condition: Condition::Exists,
        },
        Write::update(key("TX#F", "ITEM"), Update::new().set("v", "f")),
    ];
    match table.transact(writes).await {
        Err(StoreError::TransactionCancelled { failed }) => {
            assert_eq!(failed, vec![3, 4], "the indexes of the failing writes")
        }
        other => panic!("expected TransactionCancelled, got {other:?}"),
    }
    assert_eq!(must_get(&*table, &key("TX#B", "ITEM")).await, None);
    assert_eq!(must_get(&*table, &key("TX#A", "ITEM")).await, Some(a));
    assert_eq!(must_get(&*table, &key("TX#C", "ITEM")).await, Some(c));
    assert_eq!(must_get(&*table, &key("TX#D", "ITEM")).await, Some(d));
    assert_eq!(must_get(&*table, &key("TX#E", "ITEM")).await, None);
    assert_eq!(must_get(&*table, &key("TX#F", "ITEM")).await, None);

    // One failing condition alone is reported with its index.
    let writes = vec![
        Write::put(item("TX#G", "ITEM", json!({}))),
        Write::update(key("TX#A", "ITEM"), Update::new().add("n", 1))
            .when(Condition::Below("n".into(), 1)),
    ];
    match table.transact(writes).await {
        Err(StoreError::TransactionCancelled { failed }) => assert_eq!(failed, vec![1]),
        other => panic!("expected TransactionCancelled, got {other:?}"),
    }
    assert_eq!(must_get(&*table, &key("TX#G", "ITEM")).await, None);

    // When every condition holds, every write applies.
    let writes = vec![
        Write::put_new(b.clone()),
        Write::update(key("TX#A", "ITEM"), Update::new().add("n", 1))
            .when(Condition::Equals("n".into(), json!(1))),
        Write::delete(key("TX#C", "ITEM")).when(Condition::Exists),
        Write::update(key("TX#F", "ITEM"), Update::new().set("v", "f")),
        Write::Check {
            key: key("TX#D", "ITEM"),
            condition: Condition::Equals("v".into(), json!("d")),
        },
    ];
    table.transact(writes).await.expect("transaction");
    assert_eq!(
        must_get(&*table, &key("TX#B", "ITEM")).await,
        Some(item("TX#B", "ITEM", json!({"v": "b"})))
    );
    assert_eq!(
        must_get(&*table, &key("TX#A", "ITEM")).await,
        Some(item("TX#A", "ITEM", json!({"n": 2})))
    );
    assert_eq!(must_get(&*table, &key("TX#C", "ITEM")).await, None);
    assert_eq!(
        must_get(&*table, &key("TX#F", "ITEM")).await,
        Some(item("TX#F", "ITEM", json!({"v": "f"})))
    );
}

async fn transaction_touching_a_key_twice_is_invalid(table: Arc<dyn Table>) {
    let twice = vec![
        Write::put(item("TWICE#1", "ITEM", json!({"v": 1}))),
        Write::update(key("TWICE#2", "ITEM"), Update::new().set("v", 2)),
        Write::update(key("TWICE#1", "ITEM"), Update::new().set("v", 3)),
    ];
    let result = table.transact(twice).await;
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "one key twice: {result:?}"
    );
    let checked_twice = vec![
        Write::Check {
            key: key("TWICE#1", "ITEM"),
            condition: Condition::NotExists,
        },
        Write::put(item("TWICE#1", "ITEM", json!({}))),
    ];
    let result = table.transact(checked_twice).await;
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "a check and a write on one key: {result:?}"
    );
    let result = table.transact(vec![]).await;
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "no writes: {result:?}"
    );
    let too_many = (0..=MAX_TRANSACTION_WRITES)
        .map(|i| Write::put(item(&format!("MANY#{i}"), "ITEM", json!({}))))
        .collect();
    let result = table.transact(too_many).await;
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "too many writes: {result:?}"
    );
    assert_eq!(
        scan_all(&*table).await.expect("scan"),
        Vec::<Item>::new(),
        "an invalid transaction writes nothing"
    );
}

async fn check_writes_nothing(table: Arc<dyn Table>) {
    let a = item("CHECK#A", "ITEM", json!({"n": 1}));
    table.put(a.clone(), None).await.expect("seed");

    table
        .transact(vec![Write::Check {
            key: key("CHECK#A", "ITEM"),
            condition: Condition::Equals("n".into(), json!(1)),
        }])
        .await
        .expect("a holding check");
    table
        .transact(vec![Write::Check {
            key: key("CHECK#Z", "ITEM"),
            condition: Condition::NotExists,
        }])
        .await
        .expect("a holding check on a missing item");
    assert_eq!(
        must_get(&*table, &key("CHECK#A", "ITEM")).await,
        Some(a.clone())
    );
    assert_eq!(must_get(&*table, &key("CHECK#Z", "ITEM")).await, None);

    let result = table
        .transact(vec![
            Write::Check {
                key: key("CHECK#A", "ITEM"),
                condition: Condition::Equals("n".into(), json!(2)),
            },
            Write::put(item("CHECK#B", "ITEM", json!({}))),
        ])
        .await;
    match result {
        Err(StoreError::TransactionCancelled { failed }) => assert_eq!(failed, vec![0]),
        other => panic!("expected TransactionCancelled, got {other:?}"),
    }
    let result = table
        .transact(vec![
            Write::put(item("CHECK#B", "ITEM", json!({}))),
            Write::Check {
                key: key("CHECK#A", "ITEM"),
                condition: Condition::Below("n".into(), 1),
            },
        ])
        .await;
    match result {
        Err(StoreError::TransactionCancelled { failed }) => assert_eq!(failed, vec![1]),
        other => panic!("expected TransactionCancelled, got {other:?}"),
    }
    assert_eq!(must_get(&*table, &key("CHECK#B", "ITEM")).await, None);
    assert_eq!(scan_all(&*table).await.expect("scan"), vec![a]);
}
