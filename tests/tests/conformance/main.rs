//! The one conformance suite of the table port: every case is written once, generic over
//! `Arc<dyn Table>`, and run against both adapters (modules `embedded` and `dynamodb` in each
//! concern's module, by `tenantry_tests::on_both_adapters!`).
//!
//! The `dynamodb` half needs DynamoDB Local (`scripts/test.sh` starts it and sets
//! `DYNAMODB_ENDPOINT`); without it, it fails loudly.

mod conditions;
mod paging;
mod queries;
mod races;
mod single;
mod transactions;

use serde_json::Value;
use shared::store::{GSI1PK, GSI1SK, Item, Key, PK, SK, Table};

// ---------------------------------------------------------------------------------------------
// helpers shared by the cases

fn obj(value: Value) -> Item {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// An item with the given key and attributes.
fn item(pk: &str, sk: &str, attrs: Value) -> Item {
    let mut item = obj(attrs);
    item.insert(PK.into(), pk.into());
    item.insert(SK.into(), sk.into());
    item
}

fn key(pk: &str, sk: &str) -> Key {
    Key::new(pk, sk)
}

fn sks(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|item| item[SK].as_str().expect("string SK").to_owned())
        .collect()
}

fn assert_key_only(next: &Item) {
    for attr in next.keys() {
        assert!(
            [PK, SK, GSI1PK, GSI1SK].contains(&attr.as_str()),
            "a cursor holds only key attributes, not `{attr}`: {next:?}"
        );
    }
}

async fn must_get(table: &dyn Table, key: &Key) -> Option<Item> {
    table.get(key).await.expect("get")
}
