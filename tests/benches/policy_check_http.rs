//! The warm policy check through the HTTP router on the embedded store, in checks per second
//! (issue 12): what an application sees from the local server's router, metering and all.
//!
//! One profile on a fresh embedded table (the release build of the same code the local server
//! runs, driven in-process through `tenantry_tests::api::Api`, no socket): 40 run users tagged
//! `role` and `site`, 200 policies (tag targets, `{type}`, `{type, tag_match: site}`, some
//! denies by id). Then, each timed separately after one request whose store calls are counted
//! (for the first kind, that request is the profile's first check: it compiles the set):
//!
//! - `team`: `POST /v1/profiles/{pid}/policies/check` with a full token of the owner and a
//!   run user as the target, one check per request, one request at a time;
//! - `team, 8 in flight`: the same from 8 tasks at once;
//! - `team batch of 100`: one request holding 100 checks (checks/s counts the checks);
//! - `run user`: `POST /v1/run/check`, a run user about itself, with its session.
//!
//! For each: requests/s, checks/s, the median and p99 per request, and the store calls of the
//! first request (the counting adapter; the first check of the profile compiles its set, so it
//! also queries the set's items, which a warm request does not). Every request is metered (`api_requests`): on the
//! embedded store that is one durable write per request, the cost issue 14 takes on.
//!
//! `cargo bench -p tenantry-tests --bench policy_check_http`. Figures in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{Value, json};
use tenantry_tests::api::{Account, Api};

const USERS: usize = 40;
const POLICIES: usize = 200;
const SEQUENTIAL: usize = 5_000;
const IN_FLIGHT: usize = 8;
const BATCHES: usize = 200;
const BATCH: usize = 100;
const RUN_PASSWORD: &str = "run user's long passphrase";
const ROLES: [&str; 5] = ["viewer", "editor", "operator", "admin", "guest"];

fn tag(key: &str, value: &str) -> Value {
    json!({"key": key, "value": value})
}

fn site(i: usize) -> String {
    format!("site-{:02}", i % 10)
}

/// The body of policy `i`.
fn policy(i: usize) -> Value {
    let role = ROLES[i % ROLES.len()];
    if i % 10 == 9 {
        json!({"name": format!("deny {i}"), "targets": [{"tag": tag("role", role)}],
               "permissions": [{"effect": "deny", "actions": ["delete"],
                                "resources": [{"type": "device", "id": format!("d{}", i % 50)}]}]})
    } else if i.is_multiple_of(2) {
        json!({"name": format!("own site {i}"), "targets": [{"tag": tag("role", role)}],
               "permissions": [{"effect": "allow", "actions": ["access", "edit"],
                                "resources": [{"type": "device", "tag_match": "site"}]}]})
    } else {
        json!({"name": format!("dashboards {i}"), "targets": [{"tag": tag("site", &site(i))}],
               "permissions": [{"effect": "allow", "actions": ["access"],
                                "resources": [{"type": "dashboard"}]}]})
    }
}

/// The resource of check `n`.
fn resource(n: usize) -> Value {
    match n % 3 {
        0 => json!({"type": "device", "id": format!("d{}", n % 50),
                    "tags": [tag("site", &site(n / 3))]}),
        1 => json!({"type": "dashboard", "id": format!("b{n}")}),
        _ => json!({"type": "device", "id": format!("d{}", n % 50)}),
    }
}

fn action(n: usize) -> &'static str {
    ["access", "edit", "delete"][n % 3]
}

async fn expect(api: &Api, path: &str, token: &str, body: Value, status: StatusCode) -> Value {
    let reply = api.post(path, Some(token), body).await;
    assert_eq!(reply.status, status, "POST {path}: {}", reply.text);
    reply.json
}

struct Setup {
    owner: Account,
    users: Vec<String>,
    session: String,
}

async fn setup(api: &Api) -> Setup {
    let owner = api.account("bench-owner@example.com").await;
    let limits = api
        .call(
            http::Method::PUT,
            &format!("/v1/profiles/{}/limits", owner.pid),
            Some(&owner.token),
            Some(json!({"policies": 500, "api_requests": 1_000_000})),
        )
        .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    let mut users = Vec::new();
    for i in 0..USERS {
        let email = format!("run{i}@bench.example.com");
        let created = expect(
            api,
            &format!("/v1/profiles/{}/run/users", owner.pid),
            &owner.token,
            json!({"email": email, "name": format!("Run {i}"),
                   "password": if i == 0 { Some(RUN_PASSWORD) } else { None },
                   "tags": [tag("role", ROLES[i % ROLES.len()]), tag("site", &site(i))]}),
            StatusCode::CREATED,
        )
        .await;
        users.push(created["id"].as_str().expect("an id").to_owned());
    }
    for i in 0..POLICIES {
        expect(
            api,
            &format!("/v1/profiles/{}/policies", owner.pid),
            &owner.token,
            policy(i),
            StatusCode::CREATED,
        )
        .await;
    }
    let login = api
        .post(
            &format!("/v1/profiles/{}/run/login", owner.pid),
            None,
            json!({"email": "run0@bench.example.com", "password": RUN_PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let login = login.json;
    let session = login["token"].as_str().expect("a session").to_owned();
    Setup {
        owner,
        users,
        session,
    }
}

fn team_check(setup: &Setup, n: usize) -> Value {
    json!({"target": {"run_user": setup.users[n % setup.users.len()]},
           "action": action(n), "resource": resource(n)})
}

/// What one way of checking measured.
struct Figures {
    name: &'static str,
    requests: usize,
    checks: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    calls: String,
}

impl Figures {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }
}

async fn timed<F, Fut>(
    api: &Api,
    name: &'static str,
    requests: usize,
    per: usize,
    one: F,
) -> Figures
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // One request counted (the first check of the profile compiles its set), then the timed ones.
    let before = api.calls();
    one(0).await;
    let made = api.calls().since(&before);
    let calls = format!(
        "{} (get {}, update {}, query {}, transact {})",
        made.total(),
        made.get,
        made.update,
        made.query,
        made.transact
    );
    let mut latencies = Vec::with_capacity(requests);
    let started = Instant::now();
    for n in 1..=requests {
        let at = Instant::now();
        one(n).await;
        latencies.push(at.elapsed());
    }
    Figures {
        name,
        requests,
        checks: requests * per,
        elapsed: started.elapsed(),
        latencies,
        calls,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let api = Arc::new(Api::new(tenantry_tests::fixtures::embedded_table().await));
    let setup = Arc::new(setup(&api).await);
    let check_path = format!("/v1/profiles/{}/policies/check", setup.owner.pid);
    let mut rows = Vec::new();

    rows.push(
        timed(&api, "team, one check per request", SEQUENTIAL, 1, |n| {
            let (api, setup, path) = (api.clone(), setup.clone(), check_path.clone());
            async move {
                let body = team_check(&setup, n);
                let decision = expect(&api, &path, &setup.owner.token, body, StatusCode::OK).await;
                assert!(decision["effect"].is_string(), "{decision}");
            }
        })
        .await,
    );

    rows.push(
        timed(&api, "team, batch of 100 checks", BATCHES, BATCH, |n| {
            let (api, setup, path) = (api.clone(), setup.clone(), check_path.clone());
            async move {
                let checks: Vec<Value> = (0..BATCH)
                    .map(|k| team_check(&setup, n * BATCH + k))
                    .collect();
                let answer = expect(
                    &api,
                    &path,
                    &setup.owner.token,
                    json!({"checks": checks}),
                    StatusCode::OK,
                )
                .await;
                assert_eq!(
                    answer["results"].as_array().map(Vec::len),
                    Some(BATCH),
                    "{answer}"
                );
            }
        })
        .await,
    );

    rows.push(
        timed(&api, "run user about itself", SEQUENTIAL, 1, |n| {
            let (api, setup) = (api.clone(), setup.clone());
            async move {
                let body = json!({"action": action(n), "resource": resource(n)});
                let decision =
                    expect(&api, "/v1/run/check", &setup.session, body, StatusCode::OK).await;
                assert!(decision["effect"].is_string(), "{decision}");
            }
        })
        .await,
    );

    // 8 tasks at once, each one request at a time.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..IN_FLIGHT {
        let (api, setup, path) = (api.clone(), setup.clone(), check_path.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            for k in 0..SEQUENTIAL / IN_FLIGHT {
                let n = task * SEQUENTIAL + k;
                let at = Instant::now();
                expect(
                    &api,
                    &path,
                    &setup.owner.token,
                    team_check(&setup, n),
                    StatusCode::OK,
                )
                .await;
                latencies.push(at.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("a task"));
    }
    let requests = latencies.len();
    rows.push(Figures {
        name: "team, 8 requests in flight",
        requests,
        checks: requests,
        elapsed: started.elapsed(),
        latencies,
        calls: "as above".into(),
    });

    println!(
        "\n| check | requests | requests/s | checks/s | median per request | p99 per request | store calls of the first request (it compiles the set) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for row in &rows {
        let seconds = row.elapsed.as_secs_f64();
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.3} ms | {:.3} ms | {} |",
            row.name,
            row.requests,
            row.requests as f64 / seconds,
            row.checks as f64 / seconds,
            row.percentile(0.5),
            row.percentile(0.99),
            row.calls
        );
    }
}
