//! Conditions on single writes: every condition, on an existing and on a missing item, through a
//! put, an update and a delete; a failed condition writes nothing.

use std::sync::Arc;

use serde_json::json;
use shared::store::{Condition, Item, StoreError, Table, Update, condition_holds};
use tokio::task::JoinSet;

use crate::{item, key, must_get};

tenantry_tests::on_both_adapters!(
    worker_threads = 4;
    conditions_on_put,
    conditions_on_update,
    conditions_on_delete,
);

/// One condition, the state it is checked against, and whether it holds there.
struct Case {
    condition: Condition,
    existing: bool,
    holds: bool,
}

fn base(pk: &str) -> Item {
    item(
        pk,
        "ITEM",
        json!({"status": "active", "n": 5, "tags": ["a", "b"]}),
    )
}

fn condition_cases() -> Vec<Case> {
    use Condition::*;
    let s = |x: &str| x.to_owned();
    let case = |condition: Condition, existing: bool, holds: bool| Case {
        condition,
        existing,
        holds,
    };
    vec![
        case(Exists, true, true),
        case(Exists, false, false),
        case(NotExists, true, false),
        case(NotExists, false, true),
        case(Equals(s("status"), json!("active")), true, true),
        case(Equals(s("status"), json!("gone")), true, false),
        case(Equals(s("n"), json!(5)), true, true),
        case(Equals(s("n"), json!("5")), true, false),
        case(Equals(s("tags"), json!(["a", "b"])), true, true),
        case(Equals(s("missing"), json!("x")), true, false),
        case(Equals(s("status"), json!("active")), false, false),
        case(NotEquals(s("status"), json!("gone")), true, true),
        case(NotEquals(s("status"), json!("active")), true, false),
        case(NotEquals(s("missing"), json!("x")), true, true),
        case(NotEquals(s("status"), json!("gone")), false, false),
        case(Below(s("n"), 6), true, true),
        case(Below(s("n"), 5), true, false),
        case(Below(s("missing"), 1), true, true),
        case(Below(s("missing"), 0), true, false),
        case(Below(s("n"), 1), false, true),
        case(Below(s("n"), 0), false, false),
        case(Below(s("status"), 100), true, false),
        case(AtLeast(s("n"), 5), true, true),
        case(AtLeast(s("n"), 6), true, false),
        case(AtLeast(s("n"), -3), true, true),
        case(AtLeast(s("missing"), 0), true, true),
        case(AtLeast(s("missing"), 1), true, false),
        case(AtLeast(s("n"), 0), false, true),
        case(AtLeast(s("n"), 1), false, false),
        case(AtLeast(s("status"), -100), true, false),
        case(
            All(vec![
                Exists,
                Equals(s("status"), json!("active")),
                Below(s("n"), 6),
            ]),
            true,
            true,
        ),
        case(All(vec![Exists, Below(s("n"), 5)]), true, false),
        case(All(vec![NotExists, Below(s("n"), 1)]), false, true),
        case(All(vec![NotExists, AtLeast(s("n"), 1)]), false, false),
        case(All(vec![]), true, true),
        case(All(vec![]), false, true),
        // Any: what a marker that may be taken over reads (absent, its own, or expired).
        case(
            Any(vec![Equals(s("status"), json!("gone")), Below(s("n"), 6)]),
            true,
            true,
        ),
        case(
            Any(vec![Equals(s("status"), json!("gone")), Below(s("n"), 5)]),
            true,
            false,
        ),
        case(
            Any(vec![Equals(s("status"), json!("gone")), Below(s("n"), 5)]),
            false,
            true,
        ),
        case(
            Any(vec![Equals(s("status"), json!("active")), NotExists]),
            true,
            true,
        ),
        case(
            Any(vec![Equals(s("status"), json!("active")), NotExists]),
            false,
            true,
        ),
        case(
            Any(vec![Equals(s("status"), json!("gone")), NotExists]),
            true,
            false,
        ),
        case(Any(vec![Exists]), false, false),
        case(Any(vec![All(vec![]), NotExists]), true, true),
        // An AND under an OR, and an OR (Any, or Below's own) under an AND.
        case(
            Any(vec![
                All(vec![Exists, Equals(s("n"), json!(4))]),
                NotEquals(s("status"), json!("gone")),
            ]),
            true,
            true,
        ),
        case(
            Any(vec![
                All(vec![Exists, Equals(s("n"), json!(4))]),
                NotEquals(s("status"), json!("active")),
            ]),
            true,
            false,
        ),
        case(
            All(vec![
                Exists,
                Any(vec![Equals(s("status"), json!("gone")), Below(s("n"), 6)]),
            ]),
            true,
            true,
        ),
        case(
            All(vec![
                Equals(s("status"), json!("active")),
                Any(vec![Equals(s("n"), json!(4)), Below(s("missing"), 0)]),
            ]),
            true,
            false,
        ),
        case(All(vec![Exists, Any(vec![Below(s("n"), 6)])]), true, true),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Put,
    Update,
    Delete,
}

/// Runs every condition case through one kind of write, each on its own key, and checks both
/// the answer and what is stored afterwards (a failed condition writes nothing).
async fn conditions_on(table: Arc<dyn Table>, op: Op) {
    let cases = condition_cases();
    let mut tasks = JoinSet::new();
    for (i, case) in cases.into_iter().enumerate() {
        let table = table.clone();
        tasks.spawn(async move {
            let pk = format!("COND#{i}");
            let k = key(&pk, "ITEM");
            let before = case.existing.then(|| base(&pk));
            if let Some(before) = &before {
                table.put(before.clone(), None).await.expect("seed");
            }
            let label = format!("{op:?} when {:?} on {:?}", case.condition, before);
            assert_eq!(
                condition_holds(&case.condition, before.as_ref()),
                case.holds,
                "the case table disagrees with condition_holds: {label}"
            );
            let condition = Some(case.condition.clone());
            let (result, expected_after) = match op {
                Op::Put => {
                    let new = item(&pk, "ITEM", json!({"marker": "written"}));
                    let result = table.put(new.clone(), condition).await.map(|()| None);
                    (result, Some(new))
                }
                Op::Update => {
                    let mut new = before
                        .clone()
                        .unwrap_or_else(|| item(&pk, "ITEM", json!({})));
                    new.insert("marker".into(), "written".into());
                    let update = Update::new().set("marker", "written");
                    let result = table.update(&k, update, condition).await.map(Some);
                    (result, Some(new))
                }
                Op::Delete => (table.delete(&k, condition).await, None),
            };
            let after = must_get(&*table, &k).await;
            let mut problems = Vec::new();
            match (&result, case.holds) {
                (Ok(returned), true) => {
                    match op {
                        Op::Update if returned != &expected_after => problems.push(format!(
                            "returned {returned:?}, expected {expected_after:?}"
                        )),
                        Op::Delete if returned != &before => problems.push(format!(
                            "returned {returned:?}, expected the old item {before:?}"
                        )),
                        _ => {}
                    }
                    if after != expected_after {
                        problems.push(format!("stored {after:?}, expected {expected_after:?}"));
                    }
                }
                (Err(StoreError::ConditionFailed), false) => {
                    if after != before {
                        problems.push(format!(
                            "a failed condition wrote: stored {after:?}, expected {before:?}"
                        ));
                    }
                }
                (result, holds) => problems.push(format!(
                    "got {result:?}, expected {}",
                    if holds { "success" } else { "ConditionFailed" }
                )),
            }
            problems
                .into_iter()
                .map(|problem| format!("{label}: {problem}"))
                .collect::<Vec<_>>()
        });
    }
    let mut problems = Vec::new();
    while let Some(done) = tasks.join_next().await {
        problems.extend(done.expect("case task"));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

async fn conditions_on_put(table: Arc<dyn Table>) {
    conditions_on(table, Op::Put).await;
}

async fn conditions_on_update(table: Arc<dyn Table>) {
    conditions_on(table, Op::Update).await;
}

async fn conditions_on_delete(table: Arc<dyn Table>) {
    conditions_on(table, Op::Delete).await;
}
