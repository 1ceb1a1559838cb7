//! Single items: put, get, delete, and what an update does.

use std::sync::Arc;

use serde_json::{Value, json};
use shared::store::{PK, SK, StoreError, Table, Update, Write, scan_all};

use crate::{item, key, must_get, obj};

tenantry_tests::on_both_adapters!(
    worker_threads = 4;
    put_get_delete_round_trip,
    update_semantics,
    update_refuses_key_attributes,
);

async fn put_get_delete_round_trip(table: Arc<dyn Table>) {
    let k = key("ROUND#1", "ITEM");
    assert_eq!(must_get(&*table, &k).await, None);
    assert_eq!(table.delete(&k, None).await.expect("delete"), None);

    let stored = item(
        "ROUND#1",
        "ITEM",
        json!({
            "name": "Zoë \"quoted\" \u{1F600}",
            "empty": "",
            "count": 42,
            "negative": -7,
            "big": i64::MAX,
            "small": i64::MIN,
            "active": true,
            "off": false,
            "tags": ["a", "b", 3],
            "nested": {"x": 1, "y": {"z": "deep"}, "list": []},
            "ttl": 1_900_000_000,
        }),
    );
    let mut written = stored.clone();
    written.insert("dropped".into(), Value::Null);
    table.put(written, None).await.expect("put");
    assert_eq!(
        must_get(&*table, &k).await,
        Some(stored.clone()),
        "what was put comes back, without its nulls"
    );

    // A put replaces the whole item.
    let replacement = item("ROUND#1", "ITEM", json!({"name": "other"}));
    table.put(replacement.clone(), None).await.expect("put");
    assert_eq!(must_get(&*table, &k).await, Some(replacement.clone()));

    // Neighbours are distinct items.
    let neighbour = item("ROUND#1", "ITEM2", json!({"n": 1}));
    table.put(neighbour.clone(), None).await.expect("put");
    assert_eq!(must_get(&*table, &k).await, Some(replacement.clone()));

    assert_eq!(
        table.delete(&k, None).await.expect("delete"),
        Some(replacement),
        "delete returns the old item"
    );
    assert_eq!(must_get(&*table, &k).await, None);
    assert_eq!(table.delete(&k, None).await.expect("delete"), None);
    assert_eq!(
        must_get(&*table, &key("ROUND#1", "ITEM2")).await,
        Some(neighbour)
    );

    // An item without a string key is refused.
    let keyless = obj(json!({"PK": "ROUND#2", "name": "no SK"}));
    assert!(matches!(
        table.put(keyless, None).await,
        Err(StoreError::Invalid(_))
    ));
    let numeric_key = obj(json!({"PK": "ROUND#2", "SK": 5}));
    assert!(matches!(
        table.put(numeric_key, None).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn update_semantics(table: Arc<dyn Table>) {
    // An update creates a missing item, and returns the whole new item.
    let k = key("UPD#1", "ITEM");
    let created = table
        .update(&k, Update::new().set("a", 1).set("b", "two"), None)
        .await
        .expect("update");
    let expected = item("UPD#1", "ITEM", json!({"a": 1, "b": "two"}));
    assert_eq!(created, expected);
    assert_eq!(must_get(&*table, &k).await, Some(expected));

    // An empty update still creates the item, holding just its key.
    let bare = key("UPD#2", "ITEM");
    let made = table
        .update(&bare, Update::new(), None)
        .await
        .expect("update");
    assert_eq!(made, item("UPD#2", "ITEM", json!({})));
    assert_eq!(
        must_get(&*table, &bare).await,
        Some(item("UPD#2", "ITEM", json!({})))
    );

    // Add on an absent attribute counts from 0; negative adds lower.
    let n = table
        .update(&k, Update::new().add("n", 3), None)
        .await
        .expect("add");
    assert_eq!(n["n"], json!(3));
    let n = table
        .update(&k, Update::new().add("n", -1).add("m", -4), None)
        .await
        .expect("add");
    assert_eq!((n["n"].clone(), n["m"].clone()), (json!(2), json!(-4)));

    // Untouched attributes stay; the returned item is the whole item.
    assert_eq!(n["a"], json!(1));
    assert_eq!(n["b"], json!("two"));

    // Setting null removes; remove removes; removing an absent attribute is fine.
    let after = table
        .update(
            &k,
            Update::new()
                .set("a", Value::Null)
                .remove("b")
                .remove("never"),
            None,
        )
        .await
        .expect("update");
    let expected = item("UPD#1", "ITEM", json!({"n": 2, "m": -4}));
    assert_eq!(after, expected);
    assert_eq!(must_get(&*table, &k).await, Some(expected));

    // Steps on one attribute apply in order: set, then add, then remove.
    let folded = table
        .update(
            &k,
            Update::new()
                .set("x", 10)
                .add("x", 5)
                .set("gone", "soon")
                .remove("gone")
                .set("cleared", Value::Null)
                .add("cleared", 7)
                .add("n", 1)
                .add("n", 1),
            None,
        )
        .await
        .expect("update");
    assert_eq!(
        folded,
        item(
            "UPD#1",
            "ITEM",
            json!({"n": 4, "m": -4, "x": 15, "cleared": 7})
        )
    );

    // Set replaces nested values whole.
    let nested = table
        .update(
            &k,
            Update::new().set("doc", json!({"a": [1, 2], "b": {"c": null}})),
            None,
        )
        .await
        .expect("update");
    assert_eq!(nested["doc"]["a"], json!([1, 2]));

    // Adding to something that is not a number is refused and writes nothing.
    let before = must_get(&*table, &k).await;
    let refused = table
        .update(&k, Update::new().add("doc", 1).set("z", 1), None)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "add on a non-number: {refused:?}"
    );
    assert_eq!(must_get(&*table, &k).await, before);
}

async fn update_refuses_key_attributes(table: Arc<dyn Table>) {
    let k = key("KEYS#1", "ITEM");
    let original = item("KEYS#1", "ITEM", json!({"n": 1}));
    table.put(original.clone(), None).await.expect("put");
    let missing = key("KEYS#2", "ITEM");
    for update in [
        Update::new().set(PK, "OTHER"),
        Update::new().set(SK, "OTHER"),
        Update::new().set(PK, Value::Null),
        Update::new().add(SK, 1),
        Update::new().remove(PK),
        Update::new().set("n", 2).remove(SK),
    ] {
        let result = table.update(&k, update.clone(), None).await;
        assert!(
            matches!(result, Err(StoreError::Invalid(_))),
            "{update:?} on an existing item: {result:?}"
        );
        let result = table.update(&missing, update.clone(), None).await;
        assert!(
            matches!(result, Err(StoreError::Invalid(_))),
            "{update:?} on a missing item: {result:?}"
        );
        let result = table
            .transact(vec![Write::update(k.clone(), update.clone())])
            .await;
        assert!(
            matches!(result, Err(StoreError::Invalid(_))),
            "{update:?} in a transaction: {result:?}"
        );
    }
    assert_eq!(must_get(&*table, &k).await, Some(original));
    assert_eq!(must_get(&*table, &missing).await, None);
    assert_eq!(scan_all(&*table).await.expect("scan").len(), 1);
}
