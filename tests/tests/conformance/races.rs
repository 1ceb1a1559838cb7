//! Concurrency: racing conditional writes have one winner, concurrent adds lose nothing, bounded
//! increments never pass their bound.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use shared::store::{Condition, StoreError, Table, Update};
use tokio::task::JoinSet;

use crate::{item, key, must_get};

tenantry_tests::on_both_adapters!(
    worker_threads = 4;
    racing_creates_have_one_winner,
    concurrent_adds_lose_nothing,
    bounded_increments_never_pass_the_bound,
);

const RACERS: usize = 100;

async fn racing_creates_have_one_winner(table: Arc<dyn Table>) {
    let mut tasks = JoinSet::new();
    for i in 0..RACERS {
        let table = table.clone();
        tasks.spawn(async move {
            let claim = item("RACE#1", "CLAIM", json!({"owner": i}));
            (i, table.put(claim, Some(Condition::NotExists)).await)
        });
    }
    let mut winners = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.expect("racer") {
            (i, Ok(())) => winners.push(i),
            (_, Err(StoreError::ConditionFailed)) => {}
            (i, Err(other)) => panic!("racer {i}: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one racer wins: {winners:?}");
    let stored = must_get(&*table, &key("RACE#1", "CLAIM"))
        .await
        .expect("the claim");
    assert_eq!(stored["owner"], json!(winners[0]));
}

async fn concurrent_adds_lose_nothing(table: Arc<dyn Table>) {
    let k = key("COUNT#1", "ITEM");
    let mut tasks = JoinSet::new();
    for _ in 0..RACERS {
        let table = table.clone();
        let k = k.clone();
        tasks.spawn(async move { table.update(&k, Update::new().add("hits", 1), None).await });
    }
    let mut seen = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let new = done.expect("adder").expect("add");
        seen.insert(new["hits"].as_i64().expect("a number"));
    }
    let expected: BTreeSet<i64> = (1..=RACERS as i64).collect();
    assert_eq!(seen, expected, "every add saw its own count");
    let stored = must_get(&*table, &k).await.expect("the counter");
    assert_eq!(stored["hits"], json!(RACERS));
}

async fn bounded_increments_never_pass_the_bound(table: Arc<dyn Table>) {
    const BOUND: i64 = 10;
    let k = key("QUOTA#1", "USAGE");
    let mut tasks = JoinSet::new();
    for _ in 0..RACERS {
        let table = table.clone();
        let k = k.clone();
        tasks.spawn(async move {
            table
                .update(
                    &k,
                    Update::new().add("used", 1),
                    Some(Condition::Below("used".into(), BOUND)),
                )
                .await
        });
    }
    let mut granted = BTreeSet::new();
    let mut refused = 0;
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Ok(new) => {
                granted.insert(new["used"].as_i64().expect("a number"));
            }
            Err(StoreError::ConditionFailed) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(granted, (1..=BOUND).collect::<BTreeSet<_>>());
    assert_eq!(refused, RACERS - BOUND as usize);
    let stored = must_get(&*table, &k).await.expect("the usage");
    assert_eq!(stored["used"], json!(BOUND));
}
