//! Faults under load (issue 13): the API on DynamoDB Local behind the fault proxy, with 10 % of
//! the store's calls failing (500s, throttling, connections dropped before and after the call
//! took effect, delays past the SDK's attempt timeout). A mixed workload of tenants (sign-ups,
//! logins, profiles, limits, tokens, invitations, run users, policies, metered checks pushed to
//! the limit) runs on a few tasks at once; then, fault-free, the table's stream goes to the
//! notifications handler (as Lambda would hand it over) and the invariant checker reads the
//! whole table.
//!
//! What must hold: every answer is a 2xx, a 4xx or a 503, and every non-2xx carries a problem
//! body (`application/problem+json`) — never a 500, never a panic; and the table has no
//! invariant violation afterwards.
//!
//! The SDK client is the production one but for its endpoint (the proxy) and short timeouts
//! (attempt 600 ms, operation 2 s), so a delayed call costs little: the standard retry policy
//! (3 attempts, its own retry quota). A 503 is retried by the workload up to twice, as a client
//! told "try again" would.
//!
//! Prints one summary line (calls, failures by kind, operations, statuses, violations): run with
//! `--nocapture` to see it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::mail::outbox::OutboxMailer;
use shared::store::dynamo::DynamoTable;
use shared::store::{Condition, Table, Update};
use tenantry_tests::api::{Api, PASSWORD, Reply};
use tenantry_tests::fault_proxy::{FaultProxy, Plan};
use tenantry_tests::fixtures;

/// The share of the store's calls that fail.
const SHARE: f64 = 0.10;
const SEED: u64 = 13;
/// Tasks running tenants at once, and tenants each runs.
const WORKERS: usize = 4;
const TENANTS_PER_WORKER: usize = 2;
/// The client's attempt timeout; a delayed call is held past it.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(600);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
const DELAY: Duration = Duration::from_millis(1000);
/// How often a request answered 503 is sent (the first time included).
const TRIES: usize = 3;

/// The workload's record of what clients saw.
struct Run {
    api: Api,
    operations: AtomicU64,
    statuses: Mutex<BTreeMap<u16, u64>>,
    /// The same, by operation: `(what, status)`.
    by_operation: Mutex<BTreeMap<(String, u16), u64>>,
    /// Answers a client must never see.
    bad: Mutex<Vec<String>>,
    /// The table straight on DynamoDB Local (no proxy): for fixture writes the API has no route
    /// for (marking an e-mail verified, as its link would).
    clean: DynamoTable,
}

impl Run {
    /// Sends a request, records what came back, and sends it again (up to [`TRIES`] times)
    /// while it answers 503.
    async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut tries = 0;
        loop {
            tries += 1;
            self.operations.fetch_add(1, Ordering::Relaxed);
            let reply = self
                .api
                .call(method.clone(), path, token, body.clone())
                .await;
            self.record(what, &reply);
            if reply.status != StatusCode::SERVICE_UNAVAILABLE || tries >= TRIES {
                return reply;
            }
        }
    }

    fn record(&self, what: &str, reply: &Reply) {
        *self
            .statuses
            .lock()
            .expect("statuses")
            .entry(reply.status.as_u16())
            .or_default() += 1;
        *self
            .by_operation
            .lock()
            .expect("by operation")
            .entry((what.to_owned(), reply.status.as_u16()))
            .or_default() += 1;
        let status = reply.status;
        let problem = reply.content_type().starts_with("application/problem+json")
            && reply.json["type"].is_string()
            && reply.json["status"] == status.as_u16();
        let fine = status.is_success()
            || ((status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE) && problem);
        if !fine {
            self.bad.lock().expect("bad").push(format!(
                "{what}: {status} ({}) {}",
                reply.content_type(),
                reply.text
            ));
        }
    }

    async fn post(&self, what: &str, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(what, Method::POST, path, token, Some(body)).await
    }
    async fn patch(&self, what: &str, path: &str, token: &str, body: Value) -> Reply {
        self.call(what, Method::PATCH, path, Some(token), Some(body))
            .await
    }
    async fn put(&self, what: &str, path: &str, token: &str, body: Value) -> Reply {
        self.call(what, Method::PUT, path, Some(token), Some(body))
            .await
    }
    async fn get(&self, what: &str, path: &str, token: &str) -> Reply {
        self.call(what, Method::GET, path, Some(token), None).await
    }
    async fn delete(&self, what: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        self.call(what, Method::DELETE, path, Some(token), body)
            .await
    }

    /// Signs up `email` and logs in: its session and first profile, or `None` when the faults
    /// won (every try answered 503).
    async fn sign_up(&self, email: &str) -> Option<(String, String)> {
        let body = json!({"email": email, "name": "Faulty Tenant", "password": PASSWORD});
        let created = self.post("sign-up", "/v1/accounts", None, body).await;
        // A sign-up that took effect but whose answer was lost is refused as a duplicate when
        // tried again: the login tells.
        let login = self
            .post(
                "login",
                "/v1/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        if login.status != StatusCode::OK {
            return None;
        }
        let token = login.json["token"].as_str()?.to_owned();
        let account = self.get("account", "/v1/account", &token).await;
        let aid = match created.json["id"].as_str() {
            Some(aid) => aid.to_owned(),
            None => account.json["id"].as_str()?.to_owned(),
        };
        let aid: uuid::Uuid = aid.parse().ok()?;
        // A new verification link (the stream sends it); then the e-mail verified as its link
        // would, straight on the table.
        self.post(
            "verification",
            "/v1/account/verification",
            Some(&token),
            json!({}),
        )
        .await;
        self.clean
            .update(
                &shared::keys::account(aid),
                Update::new().set("email_verified", true),
                Some(Condition::Exists),
            )
            .await
            .expect("mark verified");
        let profiles = self.get("profiles", "/v1/profiles", &token).await;
        let pid = match created.json["profile"]["id"].as_str() {
            Some(pid) => pid.to_owned(),
            None => profiles.json["profiles"][0]["id"].as_str()?.to_owned(),
        };
        Some((token, pid))
    }

    /// One tenant's day: an owner and a guest, the owner's profiles, limits, tokens, team, run
    /// users, policies, and application traffic up to the limit.
    async fn tenant(&self, label: &str) {
        let unique = |what: &str| {
            format!(
                "{what}-{label}-{}@example.com",
                uuid::Uuid::now_v7().simple()
            )
        };
        let Some((owner, pid)) = self.sign_up(&unique("owner")).await else {
            return;
        };
        let guest_email = unique("guest");
        let guest = self.sign_up(&guest_email).await;
        let one = format!("/v1/profiles/{pid}");

        self.put(
            "limits",
            &format!("{one}/limits"),
            &owner,
            json!({"tokens": 4, "api_requests": 12}),
        )
        .await;

        // Tokens, one over the limit, one deleted.
        let mut tokens = Vec::new();
        for _ in 0..5 {
            let made = self
                .post(
                    "token",
                    &format!("{one}/tokens"),
                    Some(&owner),
                    json!({"name": "t", "permission": "read", "expires_in": "1 day",
                           "password": PASSWORD}),
                )
                .await;
            if let Some(id) = made.json["id"].as_str() {
                tokens.push(id.to_owned());
            }
        }
        if let Some(tid) = tokens.first() {
            self.delete("token delete", &format!("{one}/tokens/{tid}"), &owner, None)
                .await;
        }
        self.get("tokens", &format!("{one}/tokens"), &owner).await;

        // A second profile: the guest is invited to it and declines; renamed; deleted.
        let second = self
            .post(
                "profile",
                "/v1/profiles",
                Some(&owner),
                json!({"name": "Second"}),
            )
            .await;
        let second_pid = second.json["id"].as_str().map(str::to_owned);

        // The team: the guest invited to the first profile, accepting.
        if let Some((guest_token, _)) = &guest {
            let invited = self
                .post(
                    "invite",
                    &format!("{one}/team"),
                    Some(&owner),
                    json!({"email": guest_email, "role": "member"}),
                )
                .await;
            if let Some(iid) = invited.json["id"].as_str() {
                self.post(
                    "accept",
                    &format!("/v1/invitations/{iid}/accept"),
                    Some(guest_token),
                    json!({}),
                )
                .await;
            }
            if let Some(second_pid) = &second_pid {
                let invited = self
                    .post(
                        "invite",
                        &format!("/v1/profiles/{second_pid}/team"),
                        Some(&owner),
                        json!({"email": guest_email, "role": "admin"}),
                    )
                    .await;
                if let Some(iid) = invited.json["id"].as_str() {
                    self.post(
                        "decline",
                        &format!("/v1/invitations/{iid}/decline"),
                        Some(guest_token),
                        json!({}),
                    )
                    .await;
                }
            }
            self.get("team", &format!("{one}/team"), &owner).await;
        }
        if let Some(second_pid) = &second_pid {
            let path = format!("/v1/profiles/{second_pid}");
            self.patch("profile rename", &path, &owner, json!({"name": "Renamed"}))
                .await;
            self.delete(
                "profile delete",
                &path,
                &owner,
                Some(json!({"password": PASSWORD})),
            )
            .await;
        }

        // Run users: sign-up opened, one made by the team and edited, one signing up, one
        // deleted.
        self.put(
            "run settings",
            &format!("{one}/run/settings"),
            &owner,
            json!({"signup_enabled": true, "fields": []}),
        )
        .await;
        let run_email = unique("run");
        let made = self
            .post(
                "run user",
                &format!("{one}/run/users"),
                Some(&owner),
                json!({"email": run_email, "name": "Rita", "password": PASSWORD,
                       "tags": [{"key": "team", "value": "eng"}]}),
            )
            .await;
        let uid = made.json["id"].as_str().map(str::to_owned);
        if let Some(uid) = &uid {
            self.patch(
                "run user patch",
                &format!("{one}/run/users/{uid}"),
                &owner,
                json!({"tags": [{"key": "team", "value": "eng"}, {"key": "tier", "value": "gold"}]}),
            )
            .await;
        }
        let signed = self
            .post(
                "run sign-up",
                &format!("{one}/run/signup"),
                None,
                json!({"email": unique("signup"), "name": "Sid", "password": PASSWORD}),
            )
            .await;
        if let Some(gone) = signed.json["id"].as_str() {
            self.delete(
                "run user delete",
                &format!("{one}/run/users/{gone}"),
                &owner,
                None,
            )
            .await;
        }

        // Policies: made, checked, edited, one deleted.
        let policy = json!({"name": "Engineers",
            "targets": [{"tag": {"key": "team", "value": "eng"}}],
            "permissions": [{"effect": "allow", "actions": ["access"],
                             "resources": [{"type": "device"}]}]});
        let kept = self
            .post(
                "policy",
                &format!("{one}/policies"),
                Some(&owner),
                policy.clone(),
            )
            .await;
        let dropped = self
            .post("policy", &format!("{one}/policies"), Some(&owner), policy)
            .await;
        if let Some(uid) = &uid {
            self.post(
                "policy check",
                &format!("{one}/policies/check"),
                Some(&owner),
                json!({"target": {"run_user": uid}, "action": "access",
                       "resource": {"type": "device"}}),
            )
            .await;
        }
        if let Some(id) = kept.json["id"].as_str() {
            self.patch(
                "policy patch",
                &format!("{one}/policies/{id}"),
                &owner,
                json!({"permissions": [{"effect": "deny", "actions": ["access"],
                                        "resources": [{"type": "device"}]}]}),
            )
            .await;
        }
        if let Some(id) = dropped.json["id"].as_str() {
            self.delete(
                "policy delete",
                &format!("{one}/policies/{id}"),
                &owner,
                None,
            )
            .await;
        }

        // The run user's application traffic, past the profile's 12 requests a month.
        let login = self
            .post(
                "run login",
                &format!("{one}/run/login"),
                None,
                json!({"email": run_email, "password": PASSWORD}),
            )
            .await;
        if let Some(session) = login.json["token"].as_str() {
            for _ in 0..8 {
                self.post(
                    "run check",
                    "/v1/run/check",
                    Some(session),
                    json!({"action": "access", "resource": {"type": "device"}}),
                )
                .await;
            }
        }
        self.get("usage", &format!("{one}/usage"), &owner).await;
    }
}

/// A DynamoDB client as production builds it, aimed at `endpoint`, with short timeouts and its
/// own retry quota (so no other test's traffic drains it).
async fn client_through(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let sdk = fixtures::local_sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard())
        .retry_partition(RetryPartition::new("tenantry-faults"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Hands the table's whole stream to the notifications handler (mail to an outbox), as one
/// batch; how many records it held. No record may fail: the store is fault-free by now.
async fn deliver_stream(table: &DynamoTable) -> usize {
    let payload = tenantry_tests::streams::read_stream_as_lambda_event(
        table.inner_client(),
        table.table_name(),
    )
    .await;
    let records = payload["Records"].as_array().map_or(0, Vec::len);
    let outbox = tempfile::tempdir().expect("a temporary directory");
    let mailer = OutboxMailer::new(
        outbox.path().join("outbox"),
        "Tenantry <no-reply@tenantry.local>".into(),
    );
    let app = Api::new(Arc::new(table.clone())).app;
    let response = shared::stream::handle_lambda_payload(&app, &mailer, payload)
        .await
        .expect("a readable batch");
    assert!(
        response.batch_item_failures.is_empty(),
        "stream records failed: {:?}",
        response.batch_item_failures
    );
    records
}

/// The invariant checker's verdict on the table, each violation printed: (violations, items
/// read).
async fn check(table: &dyn Table) -> (usize, u64) {
    let report = shared::check::check_table(table)
        .await
        .expect("the checker reads the table");
    for violation in &report.violations {
        eprintln!("violation: {violation:?}");
    }
    (report.violations.len(), report.items_read)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_workload_with_ten_percent_of_store_calls_failing() {
    let started = Instant::now();
    let clean = fixtures::dynamo().await;
    let upstream = std::env::var("DYNAMODB_ENDPOINT").expect("DYNAMODB_ENDPOINT");
    let mut plan = Plan::new(upstream.trim(), 0.0, SEED);
    plan.delay = DELAY;
    let proxy = FaultProxy::start(plan)
        .await
        .expect("start the fault proxy");
    let faulty = DynamoTable::new(
        client_through(&proxy.url()).await,
        clean.table_name().to_owned(),
    );
    let run = Arc::new(Run {
        api: Api::new(Arc::new(faulty)),
        operations: AtomicU64::new(0),
        statuses: Mutex::new(BTreeMap::new()),
        by_operation: Mutex::new(BTreeMap::new()),
        bad: Mutex::new(Vec::new()),
        clean: clean.clone(),
    });

    proxy.set_share(SHARE);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let run = run.clone();
        workers.spawn(async move {
            for tenant in 0..TENANTS_PER_WORKER {
                run.tenant(&format!("w{worker}t{tenant}")).await;
            }
        });
    }
    let mut panics = Vec::new();
    while let Some(done) = workers.join_next().await {
        if let Err(err) = done {
            panics.push(err.to_string());
        }
    }
    proxy.set_share(0.0);
    let stats = proxy.stats();

    // The stream, as Lambda would hand it to the notifications handler (fault-free): what the
    // handler finishes (a deletion's purge that failed half-way) is part of the system.
    let workload = started.elapsed();
    let records = deliver_stream(&clean).await;
    let stream = started.elapsed() - workload;
    let (violations, items) = check(&clean).await;
    let statuses = run.statuses.lock().expect("statuses").clone();
    let statuses = statuses
        .iter()
        .map(|(status, n)| format!("{status}×{n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let operations = run.operations.load(Ordering::Relaxed);
    println!(
        "fault run: share {SHARE}, seed {SEED}, {WORKERS} tasks: store {stats}; \
         operations {operations}; statuses {statuses}; stream records {records}; items {items}; \
         violations {violations}; workload {:.0} s, stream {:.0} s, in all {:.0} s",
        workload.as_secs_f64(),
        stream.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let by_operation = run.by_operation.lock().expect("by operation").clone();
    println!(
        "by operation: {}",
        by_operation
            .iter()
            .map(|((what, status), n)| format!("{what} {status}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    fixtures::delete_tables(&[clean.table_name().to_owned()]).await;

    let bad = run.bad.lock().expect("bad").clone();
    assert!(panics.is_empty(), "workers panicked: {panics:#?}");
    assert!(bad.is_empty(), "answers no client may see: {bad:#?}");
    assert!(
        stats.failed() > 0 && operations > 100,
        "the run must inject faults into real traffic: {stats}"
    );
    assert_eq!(violations, 0, "invariant violations after the fault run");
}
