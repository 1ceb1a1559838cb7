//! Queries: sort-key prefixes and ranges, backward, limits and cursors, on the table and on the
//! secondary index.

use std::sync::Arc;

use serde_json::json;
use shared::store::{GSI1PK, GSI1SK, Item, Page, Query, Table, Update, Write, query_all};
use tokio::task::JoinSet;

use crate::{assert_key_only, item, key, sks};

tenantry_tests::on_both_adapters!(
    worker_threads = 4;
    query_prefix_between_backward_limit,
    prefixes_reach_keys_of_the_highest_code_points,
    gsi1_query_sees_only_indexed_items,
);

async fn query_prefix_between_backward_limit(table: Arc<dyn Table>) {
    let all = [
        "A#01", "A#02", "A#03", "A#04", "A#05", "B#01", "B#02", "B#03", "C",
    ];
    let mut tasks = JoinSet::new();
    for sk in all {
        let table = table.clone();
        tasks.spawn(async move { table.put(item("Q#1", sk, json!({"sk": sk})), None).await });
    }
    for (pk, sk) in [("Q#2", "A#01"), ("Q#0", "A#03"), ("Q#10", "A#02")] {
        let table = table.clone();
        tasks.spawn(async move { table.put(item(pk, sk, json!({})), None).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("put");
    }
    let run = |query: Query| {
        let table = table.clone();
        async move { query_all(&*table, query).await.expect("query") }
    };
    let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let everything = run(Query::partition("Q#1")).await;
    assert_eq!(sks(&everything), owned(&all), "the partition, in order");
    assert_eq!(everything[0], item("Q#1", "A#01", json!({"sk": "A#01"})));

    assert_eq!(
        sks(&run(Query::partition("Q#1").prefix("A#")).await),
        owned(&all[..5])
    );
    assert_eq!(
        sks(&run(Query::partition("Q#1").prefix("B#0")).await),
        owned(&all[5..8])
    );
    assert_eq!(
        sks(&run(Query::partition("Q#1").prefix("D")).await),
        owned(&[])
    );
    assert_eq!(
        sks(&run(Query::partition("Q#1").between("A#02", "A#04")).await),
        owned(&all[1..4]),
        "between includes both bounds"
    );
    assert_eq!(
        sks(&run(Query::partition("Q#1").between("A#03", "B#01")).await),
        owned(&all[2..6])
    );
    assert_eq!(
        sks(&run(Query::partition("Q#1").between("A#035", "A#04x")).await),
        owned(&["A#04"])
    );

    let mut reversed = owned(&all);
    reversed.reverse();
    assert_eq!(
        sks(&run(Query::partition("Q#1").backward()).await),
        reversed
    );
    assert_eq!(
        sks(&run(Query::partition("Q#1").between("A#02", "A#04").backward()).await),
        owned(&["A#04", "A#03", "A#02"])
    );

    assert_eq!(run(Query::partition("Q#404")).await, Vec::<Item>::new());
    let empty = table.query(Query::partition("Q#404")).await.expect("query");
    assert_eq!(empty, Page::default());

    // Pages of at most `limit` items, resumed by the cursor, in order, backward too.
    for (query, expected) in [
        (Query::partition("Q#1").limit(2), owned(&all)),
        (
            Query::partition("Q#1").limit(4).backward(),
            reversed.clone(),
        ),
        (
            Query::partition("Q#1").prefix("A#").limit(2).backward(),
            owned(&["A#05", "A#04", "A#03", "A#02", "A#01"]),
        ),
    ] {
        let limit = query.limit.expect("a limit");
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor = None;
        loop {
            let page = table
                .query(query.clone().after(cursor))
                .await
                .expect("query");
            pages += 1;
            assert!(
                page.items.len() <= limit,
                "{query:?}: a page over the limit"
            );
            seen.extend(sks(&page.items));
            match page.next {
                Some(next) => {
                    assert_key_only(&next);
                    cursor = Some(next);
                }
                None => break,
            }
            assert!(pages <= 10, "{query:?}: the cursor does not advance");
        }
        assert_eq!(seen, expected, "{query:?}");
        assert!(pages >= expected.len().div_ceil(limit), "{query:?}");
    }

    // A page that ends exactly at a limit hands a cursor that resumes after the right item.
    let first = table
        .query(Query::partition("Q#1").prefix("A#").limit(3))
        .await
        .expect("query");
    assert_eq!(sks(&first.items), owned(&all[..3]));
    let rest = table
        .query(Query::partition("Q#1").prefix("A#").after(first.next))
        .await
        .expect("query");
    assert_eq!(sks(&rest.items), owned(&all[3..5]));
    assert_eq!(rest.next, None);
}

/// A prefix selects every sort key that starts with it, also those that continue it with the
/// highest code point (U+10FFFF) up to the longest key DynamoDB stores (1,024 bytes), and
/// nothing beyond it: the DynamoDB adapter asks for a key range, not `begins_with`.
async fn prefixes_reach_keys_of_the_highest_code_points(table: Arc<dyn Table>) {
    let top = '\u{10FFFF}';
    let longest = format!("P#{}", top.to_string().repeat(255));
    assert_eq!(longest.len(), 1_022);
    let inside = [
        "P#".to_owned(),
        format!("P#{top}"),
        format!("P#{top}{top}z"),
        format!("P#a{top}"),
        longest.clone(),
        format!("P#{}", "\u{FFFF}".repeat(340)),
    ];
    let outside = ["P", "P\"", "P$", "Q#", "P\u{10FFFF}"];
    let mut writes = Vec::new();
    for sk in inside.iter().map(String::as_str).chain(outside) {
        writes.push(Write::put(item("Q#top", sk, json!({}))));
    }
    table.transact(writes).await.expect("seed");
    let mut expected = inside.to_vec();
    expected.sort();
    let found = query_all(&*table, Query::partition("Q#top").prefix("P#"))
        .await
        .expect("query");
    assert_eq!(sks(&found), expected);
    expected.reverse();
    let found = query_all(&*table, Query::partition("Q#top").prefix("P#").backward())
        .await
        .expect("query");
    assert_eq!(sks(&found), expected);
}

async fn gsi1_query_sees_only_indexed_items(table: Arc<dyn Table>) {
    let indexed = |pk: &str, sk: &str, gpk: &str, gsk: &str| {
        item(pk, sk, json!({"GSI1PK": gpk, "GSI1SK": gsk, "from": sk}))
    };
    let writes = vec![
        Write::put(indexed("P#1", "INVITE#1", "EMAIL#a", "INVITE#1")),
        Write::put(indexed("P#1", "INVITE#2", "EMAIL#a", "INVITE#2")),
        Write::put(indexed("P#2", "INVITE#3", "EMAIL#a", "INVITE#3")),
        Write::put(indexed("P#1", "INVITE#4", "EMAIL#b", "INVITE#4")),
        Write::put(item("P#1", "PLAIN", json!({"from": "PLAIN"}))),
        Write::put(item("P#1", "HALF", json!({"GSI1PK": "EMAIL#a"}))),
        // Same index key values on the table key: only the index is queried.
        Write::put(item("EMAIL#a", "INVITE#9", json!({}))),
    ];
    table.transact(writes).await.expect("seed");

    let run = |query: Query| {
        let table = table.clone();
        async move {
            query_all(&*table, query)
                .await
                .expect("query")
                .iter()
                .map(|item| item["from"].as_str().unwrap_or("?").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        run(Query::gsi1("EMAIL#a")).await,
        vec!["INVITE#1", "INVITE#2", "INVITE#3"]
    );
    assert_eq!(
        run(Query::gsi1("EMAIL#a").backward()).await,
        vec!["INVITE#3", "INVITE#2", "INVITE#1"]
    );
    assert_eq!(
        run(Query::gsi1("EMAIL#a").prefix("INVITE#2")).await,
        vec!["INVITE#2"]
    );
    assert_eq!(
        run(Query::gsi1("EMAIL#a").between("INVITE#2", "INVITE#9")).await,
        vec!["INVITE#2", "INVITE#3"]
    );
    assert_eq!(
        run(Query::gsi1("EMAIL#a").limit(1)).await,
        vec!["INVITE#1", "INVITE#2", "INVITE#3"]
    );
    assert_eq!(run(Query::gsi1("EMAIL#b")).await, vec!["INVITE#4"]);
    assert_eq!(run(Query::gsi1("EMAIL#none")).await, Vec::<String>::new());

    // Whole items come back (the index projects every attribute).
    let whole = query_all(&*table, Query::gsi1("EMAIL#b"))
        .await
        .expect("query");
    assert_eq!(
        whole,
        vec![indexed("P#1", "INVITE#4", "EMAIL#b", "INVITE#4")]
    );

    // A page cursor on the index holds only key attributes.
    let page = table
        .query(Query::gsi1("EMAIL#a").limit(1))
        .await
        .expect("query");
    let next = page.next.expect("more items");
    assert_key_only(&next);

    // Items enter and leave the index as their index attributes change.
    table
        .update(
            &key("P#1", "INVITE#1"),
            Update::new().remove(GSI1PK).remove(GSI1SK),
            None,
        )
        .await
        .expect("update");
    table
        .update(
            &key("P#1", "PLAIN"),
            Update::new().set(GSI1PK, "EMAIL#a").set(GSI1SK, "INVITE#0"),
            None,
        )
        .await
        .expect("update");
    table
        .update(
            &key("P#1", "INVITE#4"),
            Update::new().set(GSI1PK, "EMAIL#a"),
            None,
        )
        .await
        .expect("update");
    table
        .delete(&key("P#2", "INVITE#3"), None)
        .await
        .expect("delete");
    assert_eq!(
        run(Query::gsi1("EMAIL#a")).await,
        vec!["PLAIN", "INVITE#2", "INVITE#4"]
    );
    assert_eq!(run(Query::gsi1("EMAIL#b")).await, Vec::<String>::new());
}
