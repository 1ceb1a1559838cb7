//! `api_requests` metered in the process (`domain::usage::meter`), on both adapters: a busy
//! profile costs a write per batch, a process refuses exactly at the limit, several processes
//! pass it by at most a batch each, a process that ends loses less than a batch, counts wait
//! no longer than the flush period, and a deleted profile's counts are never written.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use shared::config::Config;
use shared::domain::usage::meter;
use shared::keys;
use shared::store::{Query, Table, query_all};
use tenantry_tests::api::{Account, Api, PASSWORD};

tenantry_tests::on_both_adapters!(
    a_busy_profile_costs_a_write_per_batch,
    one_process_refuses_exactly_at_the_limit,
    two_processes_pass_the_limit_by_at_most_a_batch_each,
    a_process_that_ends_loses_less_than_a_batch,
    counts_wait_no_longer_than_the_flush_period,
    pending_counts_of_an_earlier_day_go_to_that_day,
    a_deleted_profile_is_never_written_again,
);

fn config(batch: i64, flush: Duration) -> Config {
    Config {
        meter_batch: batch,
        meter_flush: flush,
        ..Config::default()
    }
}

const LONG: Duration = Duration::from_secs(3600);

/// One metered application request (a run-user list page); its status.
async fn metered(api: &Api, owner: &Account) -> StatusCode {
    api.get(
        &format!("/v1/profiles/{}/run/users", owner.pid),
        &owner.token,
    )
    .await
    .status
}

/// The month's `api_requests` as the profile's usage report tells it (which first writes what
/// the reporting process holds).
async fn used(api: &Api, owner: &Account) -> i64 {
    let usage = api
        .get(&format!("/v1/profiles/{}/usage", owner.pid), &owner.token)
        .await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    usage.json["services"]["api_requests"]["used"]
        .as_i64()
        .expect("a count")
}

async fn set_limit(api: &Api, owner: &Account, limit: i64) {
    let put = api
        .call(
            http::Method::PUT,
            &format!("/v1/profiles/{}/limits", owner.pid),
            Some(&owner.token),
            Some(json!({ "api_requests": limit })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
}

/// 200 metered requests make at most 20 writes (DESIGN: ≤ 0.1 per request), and every one of
/// them is in the report.
async fn a_busy_profile_costs_a_write_per_batch(table: Arc<dyn Table>) {
    let api = Api::with_config(table, config(20, LONG));
    let ann = api.account("ann@example.com").await;
    let before_used = used(&api, &ann).await;
    let before = api.calls();
    for _ in 0..200 {
        assert_eq!(metered(&api, &ann).await, StatusCode::OK);
    }
    let made = api.calls().since(&before);
    assert!(
        made.writes() <= 20,
        "200 metered requests made {} writes: {made:?}",
        made.writes()
    );
    assert!(made.writes() >= 10, "each batch is written: {made:?}");
    assert_eq!(used(&api, &ann).await - before_used, 200);
}

/// Within one process the refusal is exact: a limit of 30 serves 30 and refuses the rest with
/// 429 and a Retry-After; the counter holds 30.
async fn one_process_refuses_exactly_at_the_limit(table: Arc<dyn Table>) {
    let api = Api::with_config(table, config(7, LONG));
    let ann = api.account("ann@example.com").await;
    set_limit(&api, &ann, 30).await;
    let mut served = 0;
    for _ in 0..40 {
        let reply = api
            .get(&format!("/v1/profiles/{}/run/users", ann.pid), &ann.token)
            .await;
        match reply.status {
            StatusCode::OK => served += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.problem(), "limit-reached", "{}", reply.text);
                assert!(
                    reply.headers.contains_key("retry-after"),
                    "{:?}",
                    reply.headers
                );
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!(served, 30);
    assert_eq!(used(&api, &ann).await, 30);
}

/// Two processes on one table, taking turns, with a limit of 50 and batches of 10: together
/// they serve at least 50 and at most 50 + 2 × 9, and the stored counter stops at 50.
async fn two_processes_pass_the_limit_by_at_most_a_batch_each(table: Arc<dyn Table>) {
    let one = Api::with_config(table.clone(), config(10, LONG));
    let two = Api::with_config(table, config(10, LONG));
    let ann = one.account("ann@example.com").await;
    set_limit(&one, &ann, 50).await;
    let mut served = 0;
    for _ in 0..60 {
        for api in [&one, &two] {
            if metered(api, &ann).await == StatusCode::OK {
                served += 1;
            }
        }
    }
    assert!((50..=68).contains(&served), "served {served}");
    meter::flush_all(&one.app).await;
    meter::flush_all(&two.app).await;
    assert_eq!(
        used(&one, &ann).await,
        50,
        "the counter never passes the limit"
    );
    // Both now know: neither serves another.
    assert_eq!(metered(&one, &ann).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(metered(&two, &ann).await, StatusCode::TOO_MANY_REQUESTS);
}

/// A process that ends without writing loses what it held: fewer than a batch.
async fn a_process_that_ends_loses_less_than_a_batch(table: Arc<dyn Table>) {
    let gone = Api::with_config(table.clone(), config(10, LONG));
    let ann = gone.account("ann@example.com").await;
    for _ in 0..25 {
        assert_eq!(metered(&gone, &ann).await, StatusCode::OK);
    }
    drop(gone);
    let after = Api::with_config(table, config(10, LONG));
    let written = used(&after, &ann).await;
    assert!(
        (25 - 9..=25).contains(&written),
        "25 served, {written} written"
    );
}

/// Counts older than the flush period are written by the next counted request, or by the
/// timer's sweep, even while the batch is far from full.
async fn counts_wait_no_longer_than_the_flush_period(table: Arc<dyn Table>) {
    let api = Api::with_config(table.clone(), config(1_000, Duration::from_secs(5)));
    let reader = Api::with_config(table, config(1_000, Duration::from_secs(5)));
    let ann = api.account("ann@example.com").await;
    for _ in 0..3 {
        metered(&api, &ann).await;
    }
    // The first was written at once; two wait.
    assert_eq!(used(&reader, &ann).await, 1);
    api.app.clock.advance(chrono::Duration::seconds(6));
    metered(&api, &ann).await;
    assert_eq!(used(&reader, &ann).await, 4);
    metered(&api, &ann).await;
    api.app.clock.advance(chrono::Duration::seconds(6));
    assert_eq!(
        used(&reader, &ann).await,
        4,
        "nothing is written before the sweep"
    );
    meter::flush_due(&api.app).await;
    assert_eq!(used(&reader, &ann).await, 5);
}

/// Pending counts are written on the day they were counted, even when the next request comes
/// the next day.
async fn pending_counts_of_an_earlier_day_go_to_that_day(table: Arc<dyn Table>) {
    let api = Api::with_config(table, config(1_000, Duration::from_secs(7 * 24 * 3600)));
    let ann = api.account("ann@example.com").await;
    let first_day = api.app.now().date_naive();
    for _ in 0..4 {
        metered(&api, &ann).await;
    }
    // Just past midnight (within the session's 24 hours).
    let midnight = first_day
        .succ_opt()
        .and_then(|day| day.and_hms_opt(0, 0, 30))
        .expect("a next day")
        .and_utc();
    api.app.clock.advance(midnight - api.app.now());
    metered(&api, &ann).await;
    let next_day = api.app.now().date_naive();
    let stats = api
        .get(
            &format!(
                "/v1/profiles/{}/statistics?start={first_day}&end={next_day}&periodicity=day",
                ann.pid
            ),
            &ann.token,
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    let series = &stats.json["series"]["api_requests"];
    let day = |date: chrono::NaiveDate| {
        series
            .as_array()
            .and_then(|points| {
                points
                    .iter()
                    .find(|point| point["period"] == date.to_string())
            })
            .and_then(|point| point["value"].as_i64())
    };
    assert_eq!(
        (day(first_day), day(next_day)),
        (Some(4), Some(1)),
        "{}",
        stats.text
    );
}

/// Counts held for a profile that is then deleted are dropped: nothing of it is written again.
async fn a_deleted_profile_is_never_written_again(table: Arc<dyn Table>) {
    let api = Api::with_config(table.clone(), config(1_000, LONG));
    let ann = api.account("ann@example.com").await;
    let spare = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "spare"}))
        .await;
    assert_eq!(spare.status, StatusCode::CREATED, "{}", spare.text);
    let doomed = Account {
        pid: spare.str("id"),
        ..ann.clone()
    };
    for _ in 0..5 {
        assert_eq!(metered(&api, &doomed).await, StatusCode::OK);
    }
    assert!(api.app.meter.pending() > 0);
    let deleted = api
        .delete(
            &format!("/v1/profiles/{}", doomed.pid),
            &ann.token,
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    // The stream purges the profile; this process's counts for it were dropped by the
    // deletion, so a flush after the purge writes nothing of it.
    shared::domain::profiles::finish_pending_purges(&api.app)
        .await
        .expect("the purge");
    meter::flush_all(&api.app).await;
    let pid = doomed.pid.parse().expect("an id");
    let left = query_all(
        table.as_ref(),
        Query::partition(keys::profile_partition(pid)),
    )
    .await
    .expect("a query");
    assert!(left.is_empty(), "left behind: {left:?}");
}
