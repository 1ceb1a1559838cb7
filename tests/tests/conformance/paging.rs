//! Paging by size: more than a megabyte of items comes back in several pages, every item once;
//! a scan sees every item.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;
use shared::store::{
    GSI1PK, GSI1SK, Item, Key, MAX_TRANSACTION_WRITES, Query, Table, Write, scan_all,
};
use tokio::task::JoinSet;

use crate::{assert_key_only, item, key, sks};

tenantry_tests::on_both_adapters!(
    worker_threads = 4;
    query_over_a_megabyte_pages_every_item_once,
    scan_all_sees_everything,
);

async fn query_over_a_megabyte_pages_every_item_once(table: Arc<dyn Table>) {
    const ITEMS: usize = 1200;
    let payload = "x".repeat(1000);
    // One transaction after the other: DynamoDB Local times out on its partition lock when a
    // dozen 100 KB transactions into one partition race, on a busy machine (real DynamoDB would
    // not). The fill is set-up; the paging is what is tested.
    for chunk in 0..ITEMS / MAX_TRANSACTION_WRITES {
        let writes = (0..MAX_TRANSACTION_WRITES)
            .map(|i| {
                let sk = format!("ITEM#{:05}", chunk * MAX_TRANSACTION_WRITES + i);
                Write::put(item("BIG#1", &sk, json!({"payload": payload})))
            })
            .collect();
        table.transact(writes).await.expect("fill");
    }
    let expected: Vec<String> = (0..ITEMS).map(|i| format!("ITEM#{i:05}")).collect();

    for forward in [true, false] {
        let mut query = Query::partition("BIG#1");
        if !forward {
            query = query.backward();
        }
        let mut pages = Vec::new();
        let mut seen = Vec::new();
        loop {
            let page = table.query(query.clone()).await.expect("query");
            pages.push(page.items.len());
            seen.extend(sks(&page.items));
            match page.next {
                Some(next) => {
                    assert_key_only(&next);
                    query.cursor = Some(next);
                }
                None => break,
            }
            assert!(pages.len() <= 20, "the cursor does not advance: {pages:?}");
        }
        assert!(
            pages.len() > 1,
            "more than 1 MB of items needs more than one page: {pages:?}"
        );
        let mut want = expected.clone();
        if !forward {
            want.reverse();
        }
        assert_eq!(seen.len(), ITEMS, "pages {pages:?}");
        assert_eq!(seen, want, "every item exactly once, in order");
    }

    let scanned = scan_all(&*table).await.expect("scan");
    assert_eq!(scanned.len(), ITEMS);
    let unique: BTreeSet<String> = sks(&scanned).into_iter().collect();
    assert_eq!(unique.len(), ITEMS);
}

async fn scan_all_sees_everything(table: Arc<dyn Table>) {
    assert_eq!(scan_all(&*table).await.expect("scan"), Vec::<Item>::new());
    let mut expected = BTreeMap::new();
    let mut tasks = JoinSet::new();
    for p in 0..20 {
        for s in 0..3 {
            let mut new = item(
                &format!("SCAN#{p}"),
                &format!("ITEM#{s}"),
                json!({"p": p, "s": s}),
            );
            if s == 0 {
                new.insert(GSI1PK.into(), json!(format!("G#{}", p % 3)));
                new.insert(GSI1SK.into(), json!(format!("{p}")));
            }
            expected.insert(Key::of(&new).expect("a key"), new.clone());
            let table = table.clone();
            tasks.spawn(async move { table.put(new, None).await });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("put");
    }
    // Deleted items are gone from the scan.
    for p in [3, 7] {
        let k = key(&format!("SCAN#{p}"), "ITEM#1");
        table.delete(&k, None).await.expect("delete");
        expected.remove(&k);
    }
    let scanned = scan_all(&*table).await.expect("scan");
    assert_eq!(scanned.len(), expected.len(), "each item once");
    let scanned: BTreeMap<Key, Item> = scanned
        .into_iter()
        .map(|item| (Key::of(&item).expect("a key"), item))
        .collect();
    assert_eq!(scanned, expected);
}
