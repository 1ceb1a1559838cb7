//! The authorization matrix (`tests/authz_matrix.txt`): every route × every principal.
//!
//! On the embedded store every cell runs. On DynamoDB Local every refusal and every read runs
//! (each row on a world of its own, as on the embedded store), but not the writes that succeed:
//! each of those needs a world of its own (about 150 store calls, 48 of them transactions, which
//! DynamoDB Local runs one at a time), and their 370 worlds made the DynamoDB half alone take
//! over 15 minutes of the test command's 30. What they prove about storage (conditions,
//! transactions, gauges) the conformance suite and every domain suite prove on DynamoDB; what
//! they prove about authorization does not depend on the adapter. docs/DECISIONS.md, "Tests".

use std::sync::Arc;

use http::Method;
use serde_json::{Value, json};
use shared::domain::access::{Access, RequestMetering};
use shared::domain::usage::meter;
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::world::{PRINCIPALS, World};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use tenantry_tests::adapters::{Adapter, run};

/// Every cell of the matrix, on the embedded store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_principal_gets_the_expected_status_embedded() {
    run(Adapter::Embedded, |api: Api| cells(api, Scope::Every)).await;
}

/// Every refusal and every read of the matrix, on DynamoDB Local.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_principal_gets_the_expected_status_dynamodb_refusals_and_reads() {
    run(Adapter::DynamoDb, |api: Api| {
        cells(api, Scope::RefusalsAndReads)
    })
    .await;
}

/// Which cells of the matrix a run covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Every,
    /// The cells that share their row's world: refusals, reads, and the rows of [`adds_only`].
    RefusalsAndReads,
}

struct Row {
    method: String,
    path: String,
    /// A body decided case (`+admin`: invite as admin; `+owner`: make a member owner), or none.
    variant: Option<String>,
    expected: Vec<u16>,
}

fn matrix() -> Vec<Row> {
    let text = include_str!("../authz_matrix.txt");
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields: Vec<&str> = line.split_whitespace().collect();
        let variant = match fields.get(2) {
            Some(field) if field.starts_with('+') => Some(fields.remove(2).to_owned()),
            _ => None,
        };
        assert_eq!(
            fields.len(),
            2 + PRINCIPALS.len(),
            "authz_matrix.txt line {}: a method, a path, maybe a +variant, and {} statuses",
            n + 1,
            PRINCIPALS.len()
        );
        rows.push(Row {
            method: fields[0].to_owned(),
            path: fields[1].to_owned(),
            variant,
            expected: fields[2..]
                .iter()
                .map(|s| s.parse().expect("a status"))
                .collect(),
        });
    }
    rows
}

#[test]
fn the_matrix_lists_exactly_the_routes_that_exist() {
    let listed: Vec<(String, String)> = matrix()
        .iter()
        .map(|row| (row.method.clone(), row.path.clone()))
        .collect();
    let routes: Vec<(String, String)> = shared::http::route_table()
        .iter()
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    for route in &routes {
        assert!(
            listed.contains(route),
            "route {route:?} is missing from authz_matrix.txt"
        );
    }
    for row in &listed {
        assert!(
            routes.contains(row),
            "authz_matrix.txt lists {row:?}, which is not a route"
        );
    }
}

/// The body a case sends: a valid request, so only authorization decides the outcome (or, for
/// a `+variant` row, the body the variant is about).
fn body(
    method: &str,
    path: &str,
    variant: Option<&str>,
    principal: &str,
    world: &World,
) -> Option<Value> {
    match (method, path, variant) {
        ("POST", "/v1/profiles/{pid}/team", Some("+admin")) => {
            return Some(json!({"email": world.candidate.email, "role": "admin"}));
        }
        ("PATCH", "/v1/profiles/{pid}/team/{aid}", Some("+owner")) => {
            return Some(json!({"role": "owner"}));
        }
        (_, _, Some(other)) => panic!("unknown variant {other} of {method} {path}"),
        ("POST", "/v1/invitations/{iid}/accept" | "/v1/invitations/{iid}/decline", None) => {
            return world.link_of(principal).map(|link| json!({"token": link}));
        }
        _ => {}
    }
    match (method, path) {
        ("POST", "/v1/accounts") => Some(json!({
            "email": format!("new-{}@example.com", uuid::Uuid::now_v7().simple()),
            "name": "New",
            "password": PASSWORD,
        })),
        ("POST", "/v1/login") => Some(json!({"email": world.owner.email, "password": PASSWORD})),
        ("POST", "/v1/profiles") => Some(json!({"name": "Another"})),
        ("DELETE", "/v1/account") => Some(json!({"password": PASSWORD})),
        ("POST", "/v1/accounts/verify") => Some(json!({"token": "tnyv_not-a-link"})),
        ("POST", "/v1/password-reset") => Some(json!({"email": world.owner.email})),
        ("POST", "/v1/password-reset/confirm") => {
            Some(json!({"token": "tnyw_not-a-link", "password": PASSWORD}))
        }
        ("PUT", "/v1/account/password") => Some(json!({
            "current_password": PASSWORD, "new_password": "another password, long enough",
        })),
        ("PATCH", "/v1/profiles/{pid}") => Some(json!({"name": "Renamed"})),
        ("DELETE", "/v1/profiles/{pid}") => Some(json!({"password": PASSWORD})),
        ("PUT", "/v1/profiles/{pid}/limits") => Some(json!({"tokens": 12})),
        ("POST", "/v1/profiles/{pid}/team") => Some(json!({"email": world.candidate.email})),
        ("PATCH", "/v1/profiles/{pid}/team/{aid}") => Some(json!({"role": "admin"})),
        ("POST", "/v1/profiles/{pid}/tokens") => Some(json!({
            "name": "ci", "permission": "read", "expires_in": "1 day", "password": PASSWORD,
        })),
        // Run users: the application's open side (sign-up is open on A's profile, closed on B's).
        ("POST", "/v1/profiles/{pid}/run/signup") => Some(json!({
            "email": format!("signup-{}@example.com", uuid::Uuid::now_v7().simple()),
            "name": "Signed Up",
            "password": PASSWORD,
        })),
        ("POST", "/v1/profiles/{pid}/run/login") => {
            Some(json!({"email": world.run.user.email, "password": PASSWORD}))
        }
        ("POST", "/v1/profiles/{pid}/run/password-reset") => {
            Some(json!({"email": world.run.user.email}))
        }
        ("POST", "/v1/profiles/{pid}/run/password-reset/confirm") => {
            Some(json!({"token": "tnyw_not-a-link", "password": PASSWORD}))
        }
        // A run user about itself.
        ("PATCH", "/v1/run/me") => Some(json!({"name": "Renamed"})),
        ("PUT", "/v1/run/me/password") => Some(json!({
            "current_password": PASSWORD, "new_password": "another password, long enough",
        })),
        // The team's management of run users.
        ("PUT", "/v1/profiles/{pid}/run/settings") => {
            Some(json!({"signup_enabled": true, "fields": []}))
        }
        ("POST", "/v1/profiles/{pid}/run/users") => Some(json!({
            "email": format!("run-{}@example.com", uuid::Uuid::now_v7().simple()),
            "name": "Created",
        })),
        ("PATCH", "/v1/profiles/{pid}/run/users/{uid}") => Some(json!({"name": "Renamed"})),
        ("PUT", "/v1/profiles/{pid}/run/users/{uid}/password") => {
            Some(json!({"password": "another password, long enough"}))
        }
        // Access policies.
        ("PUT", "/v1/profiles/{pid}/resource-types") => Some(json!({
            "device": ["access", "edit", "delete"], "file": ["read", "write", "delete"],
        })),
        ("POST", "/v1/profiles/{pid}/policies") => Some(json!({
            "name": "Readers",
            "targets": [{"any_run_user": true}],
            "permissions": [{"effect": "allow", "actions": ["read"], "resources": [{"type": "file"}]}],
        })),
        ("PATCH", "/v1/profiles/{pid}/policies/{id}") => Some(json!({"active": false})),
        ("POST", "/v1/profiles/{pid}/policies/check") => Some(json!({
            "target": {"tags": [{"key": "team", "value": "eng"}]},
            "action": "access",
            "resource": {"type": "device", "id": "d1"},
        })),
        ("POST", "/v1/run/check") => Some(json!({
            "action": "access", "resource": {"type": "device", "id": "d1"},
        })),
        _ => None,
    }
}

/// Whether `principal`'s case on a route of `access` must leave tenant A exactly as it was.
///
/// Strangers to tenant A's profile (another tenant's principals, its run user included, a
/// removed member, an invitee, the owner's token of another profile) change nothing of A on
/// the routes that are not open: on a route of A's profile (404 before anything is read but
/// the caller's membership, so not even A's `api_requests` count) and on a run user's own
/// routes (`/v1/run/*`, 403 or 401 for anyone of a team; B's run user changes only itself).
/// On a route of A's profile, A's own run user is a stranger too (404, as to anyone outside
/// the team).
///
/// Not checked: the open routes. `Anyone` routes act on no profile of the path, and the open
/// application routes (`Application`: sign-up settings, sign-up, login, password reset of A's
/// run users) act on A's profile for anyone by design: each request counts one of A's
/// `api_requests` (its `USAGE#` item), a sign-up adds a run user, a login records
/// `last_login`, a reset request adds its request and rate items. Tolerating exactly those
/// writes would restate each handler here; what they write is their own tests' business. Nor
/// session routes, as before: they act on the caller's own account, not on a profile named in
/// the path.
fn must_leave_a_unchanged(access: Access, principal: &str) -> bool {
    let stranger = principal.starts_with("other_")
        || matches!(
            principal,
            "removed" | "removed_token" | "invitee" | "owner_elsewhere"
        );
    match access {
        Access::Profile(..) => stranger || principal == "run_user",
        Access::RunUser => stranger,
        Access::Anyone | Access::Application | Access::Session => false,
    }
}

/// One case: `principal` calls the row's route on `world`; what went wrong, if anything.
async fn run_case(
    api: &Api,
    world: &World,
    row: &Row,
    access: Access,
    principal: &str,
    expected: u16,
) -> Vec<String> {
    let (method, template, variant) = (&row.method, &row.path, row.variant.as_deref());
    let mut path = world.path_for(principal, template);
    if template.ends_with("/statistics") && template.contains("{pid}") {
        path.push_str("?start=2026-01-01&end=2026-01-31&periodicity=day");
    }
    // What the meter holds is written around the request (`domain::usage::meter`): a count
    // taken for A earlier must not look like this request's change, and one this request took
    // for A must show.
    let before = if must_leave_a_unchanged(access, principal) {
        settle_a(api, world).await;
        Some(world.tenant_a(api).await)
    } else {
        None
    };
    let reply = api
        .call(
            method.parse::<Method>().expect("method"),
            &path,
            world.token_of(principal).as_deref(),
            body(method, template, variant, principal, world),
        )
        .await;
    let mut failures = Vec::new();
    let case = match variant {
        Some(variant) => format!("{method} {template} {variant}"),
        None => format!("{method} {template}"),
    };
    if reply.status.as_u16() != expected {
        failures.push(format!(
            "{case} as {principal}: expected {expected}, got {} {}",
            reply.status, reply.text
        ));
    }
    if reply.status.as_u16() >= 400 && reply.content_type() != "application/problem+json" {
        failures.push(format!("{case} as {principal}: not problem+json"));
    }
    if before.is_some() {
        settle_a(api, world).await;
    }
    if let Some(before) = before
        && world.tenant_a(api).await != before
    {
        failures.push(format!("{case} as {principal}: tenant A's data changed"));
    }
    failures
}

/// Writes what the meter holds for tenant A's profiles and waits for those writes to land,
/// including one another case's sweep took and has in flight.
async fn settle_a(api: &Api, world: &World) {
    for pid in [world.pid, world.spare_pid] {
        for _ in 0..1_000 {
            meter::flush_profile(&api.app, pid).await;
            if api.app.meter.held(pid) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

/// Rows whose successful cases only add something of their own to the world, which no other
/// case of the row looks at: a new account or run user (each under a unique e-mail), a new
/// session, a reset request (past the hourly limit per e-mail still 202, nothing sent). Their
/// cases share the row's one world as refusals and reads do, instead of a world each.
fn adds_only(method: &str, path: &str) -> bool {
    method == "POST"
        && matches!(
            path,
            "/v1/accounts"
                | "/v1/login"
                | "/v1/password-reset"
                | "/v1/profiles/{pid}/run/signup"
                | "/v1/profiles/{pid}/run/login"
                | "/v1/profiles/{pid}/run/password-reset"
        )
}

/// The cells of `scope`. A case that may change the world (a write expected to succeed, or
/// a principal that needs the world prepared) gets a fresh world of its own; the cases that
/// change nothing another case looks at (refusals, reads, the rows of [`adds_only`]) share one
/// world per row and run one after another on it, so each still sees the world as built, but
/// for what does not decide a status: the `api_requests` counted by metered routes, a failed
/// attempt's throttle count, what an `adds_only` case added.
async fn cells(api: Api, scope: Scope) {
    let api = Arc::new(api);
    let routes = shared::http::route_table();
    let gate = Arc::new(Semaphore::new(8));
    let mut cases = JoinSet::new();
    let mut left_out = 0;
    for row in matrix() {
        let access = routes
            .iter()
            .find(|route| route.method == row.method && route.path == row.path)
            .map(|route| route.access)
            .expect("every row is a route (the_matrix_lists_exactly_the_routes_that_exist)");
        let shares = adds_only(&row.method, &row.path);
        let row = Arc::new(row);
        let mut quiet = Vec::new();
        for (principal, expected) in PRINCIPALS.iter().zip(row.expected.iter().copied()) {
            let reads_or_refused = row.method == "GET" || expected >= 400;
            if (reads_or_refused || shares) && *principal != "owner_exhausted" {
                quiet.push((*principal, expected));
                continue;
            }
            if scope == Scope::RefusalsAndReads {
                left_out += 1;
                continue;
            }
            let (api, gate, row) = (api.clone(), gate.clone(), row.clone());
            cases.spawn(async move {
                let _permit = gate.acquire().await.expect("semaphore");
                let world = World::build(&api).await;
                world.prepare_for(&api, principal).await;
                (
                    1,
                    run_case(&api, &world, &row, access, principal, expected).await,
                )
            });
        }
        let (api, gate) = (api.clone(), gate.clone());
        cases.spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            let world = World::build(&api).await;
            let mut failures = Vec::new();
            for (principal, expected) in &quiet {
                failures.extend(run_case(&api, &world, &row, access, principal, *expected).await);
            }
            (quiet.len(), failures)
        });
    }
    let mut failures = Vec::new();
    let mut count = 0;
    while let Some(result) = cases.join_next().await {
        let (ran, failed) = result.expect("a case ran");
        failures.extend(failed);
        count += ran;
    }
    assert_eq!(
        count + left_out,
        matrix().len() * PRINCIPALS.len(),
        "every cell of the matrix ran or was left out by the scope"
    );
    match scope {
        Scope::Every => assert_eq!(left_out, 0),
        // The refusals and reads are most of the matrix: a scope that ran few would prove little.
        Scope::RefusalsAndReads => assert!(
            count > 4 * left_out,
            "{count} cells ran, {left_out} left out"
        ),
    }
    println!("{count} cells ran, {left_out} left out by the scope");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Deny by default: every route that does not declare itself open (`Anyone`, or `Application`:
/// anyone on an existing profile, which reads the profile, so here a 404) refuses an anonymous
/// caller before its handler runs and before it reads the store (walks the route table itself,
/// not the matrix).
#[tokio::test]
async fn every_route_refuses_anonymous_callers_unless_declared_open() {
    let api = Api::new(tenantry_tests::fixtures::embedded_table().await);
    let pid = uuid::Uuid::now_v7();
    for route in shared::http::route_table() {
        let path = route
            .path
            .replace("{pid}", &pid.to_string())
            .replace("{tid}", &uuid::Uuid::now_v7().to_string());
        let before = api.calls();
        let reply = api
            .call(
                route.method.parse().expect("method"),
                &path,
                None,
                Some(json!({})),
            )
            .await;
        if matches!(route.access, Access::Anyone | Access::Application) {
            assert_ne!(reply.status, 401, "{} {}", route.method, route.path);
        } else {
            assert_eq!(
                reply.status, 401,
                "{} {}: {}",
                route.method, route.path, reply.text
            );
            assert_eq!(
                api.calls().since(&before).total(),
                0,
                "{} {} reached the store",
                route.method,
                route.path
            );
        }
    }
}

/// The principal whose request a route's round trips are measured with: the first of these
/// the matrix expects to succeed.
const MEASURED_AS: [&str; 5] = ["owner", "run_user", "anonymous", "link", "invitee"];

/// The store's round trips of every route (the matrix's successful request of the first
/// principal of [`MEASURED_AS`], on a world of its own, one request at a time; a read is sent
/// twice and measured the second time, warm). Steps are sequential round trips (calls made
/// together count once). Prints the table BENCHMARKS.md "Round trips per route" shows, and
/// holds every route to the budget: an authenticated read at most 2 steps, a write at most one
/// transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_of_every_route() {
    let api = Api::new(tenantry_tests::fixtures::embedded_table().await);
    let mut table = vec![
        "| method | route | as | status | steps | calls | get | query | put | update | delete | transact | items read | items written |".to_owned(),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |".to_owned(),
    ];
    let mut measured = Vec::new();
    let routes = shared::http::route_table();
    let mut over = Vec::new();
    for row in matrix() {
        if row.variant.is_some() || row.path.ends_with("/export") {
            continue;
        }
        let Some((principal, expected)) = MEASURED_AS.iter().find_map(|principal| {
            let at = PRINCIPALS.iter().position(|p| p == principal)?;
            let expected = row.expected[at];
            (expected < 300).then_some((*principal, expected))
        }) else {
            continue;
        };
        let world = World::build(&api).await;
        let mut path = world.path_for(principal, &row.path);
        if row.path.ends_with("/statistics") {
            path.push_str(if row.path.contains("{pid}") {
                "?start=2026-01-01&end=2026-01-31&periodicity=day"
            } else {
                ""
            });
        }
        let token = world.token_of(principal);
        // The process has counted for the profile before (its first count of the month is a
        // write of its own, as is every batch): the steady state is measured.
        let profile = shared::domain::profiles::get(&api.app, world.pid)
            .await
            .expect("profile");
        meter::count_request(&api.app, &profile)
            .await
            .expect("counted");
        let send = || async {
            // The meter's batch is written apart (one write per batch, not per request).
            meter::flush_all(&api.app).await;
            let before = api.calls();
            let reply = api
                .call(
                    row.method.parse::<Method>().expect("method"),
                    &path,
                    token.as_deref(),
                    body(&row.method, &row.path, None, principal, &world),
                )
                .await;
            (reply, api.calls().since(&before))
        };
        let (mut reply, mut made) = send().await;
        if row.method == "GET" {
            (reply, made) = send().await;
        }
        assert_eq!(
            reply.status.as_u16(),
            expected,
            "{} {} as {principal}: {}",
            row.method,
            row.path,
            reply.text
        );
        table.push(format!(
            "| {} | `{}` | {principal} | {} | **{}** | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.method,
            row.path,
            expected,
            made.steps,
            made.total(),
            made.get,
            made.query,
            made.put,
            made.update,
            made.delete,
            made.transact,
            made.items_read,
            made.items_written
        ));
        let route = routes
            .iter()
            .find(|route| route.method == row.method && route.path == row.path)
            .expect("a route");
        let metered = matches!(
            route.access,
            Access::Profile(_, _, RequestMetering::Metered) | Access::Application | Access::RunUser
        );
        measured.push(json!({
            "function": route.function, "metered": metered,
            "method": row.method, "route": row.path, "as": principal, "steps": made.steps,
            "get": made.get, "query": made.query, "items_read": made.items_read,
            "writes": made.writes(), "items_written": made.items_written,
            "transact": made.transact,
        }));
        let authenticated = principal != "anonymous" && principal != "link";
        // A read: at most 2 sequential round trips when authenticated. A write: one
        // transaction (or one single write), after at most one step of reads.
        let within = if row.method == "GET" {
            !authenticated || made.steps <= 2
        } else {
            made.writes() <= 1 && made.steps <= 2
        };
        if !within {
            over.push(format!("{} {}", row.method, row.path));
        }
    }
    println!("{}", table.join("\n"));
    // For scripts/cost.py.
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("round-trips.json");
    std::fs::write(&file, Value::Array(measured).to_string()).expect("round-trips.json");
    assert_eq!(
        over, OVER_BUDGET,
        "the routes over the round-trip budget are not those known to be"
    );
}

/// Routes known to be over the budget, and why (DECISIONS "Round trips"):
/// - deleting an account ends its sessions, leaves its teams and deletes its profiles before
///   it answers, in as many transactions as that takes;
/// - a run user's login finds the user by the e-mail's claim, then reads the user (its
///   password, whether it is active, its session version) before the session's transaction.
const OVER_BUDGET: [&str; 2] = ["DELETE /v1/account", "POST /v1/profiles/{pid}/run/login"];

/// What a route reads ahead (`Route::reads_ahead`) answers its handler's first identical read,
/// once; any other read, and the same read made again, goes to the table and sees what is
/// there now.
#[tokio::test]
async fn a_read_made_ahead_answers_the_same_read_once() {
    use shared::store::ahead::{PrimedTable, Read, read_ahead};
    use shared::store::counting::CountingTable;
    use shared::store::{Key, Query, Table, Update};

    let counting = Arc::new(CountingTable::new(
        tenantry_tests::fixtures::embedded_table().await,
    ));
    let key = Key::new("P#1", "A");
    let other = Key::new("P#1", "B");
    for k in [&key, &other] {
        let mut item = serde_json::Map::new();
        item.insert("PK".into(), k.pk.clone().into());
        item.insert("SK".into(), k.sk.clone().into());
        item.insert("n".into(), 1.into());
        counting.put(item, None).await.expect("put");
    }
    let before = counting.calls();
    let query = Query::partition("P#1");
    let ready = read_ahead(
        counting.as_ref(),
        vec![Read::Get(key.clone()), Read::Query(query.clone())],
    )
    .await;
    let made = counting.calls().since(&before);
    assert_eq!(
        (made.get, made.query, made.steps),
        (1, 1, 1),
        "both at once"
    );
    let primed = PrimedTable::new(counting.clone(), ready);
    // The item changes after it was read ahead: the first read gets what was read ahead,
    // the next one what is there now.
    counting
        .update(&key, Update::new().set("n", 2), None)
        .await
        .expect("update");
    let before = counting.calls();
    let n = |item: Option<shared::store::Item>| item.and_then(|item| item["n"].as_i64());
    assert_eq!(n(primed.get(&key).await.expect("get")), Some(1));
    assert_eq!(
        primed
            .query(query.clone())
            .await
            .expect("query")
            .items
            .len(),
        2
    );
    assert_eq!(counting.calls().since(&before).total(), 0, "answered ahead");
    assert_eq!(primed.unused(), 0);
    assert_eq!(
        n(primed.get(&key).await.expect("get")),
        Some(2),
        "read again"
    );
    assert_eq!(n(primed.get(&other).await.expect("get")), Some(1));
    assert_eq!(
        primed
            .query(query.limit(1))
            .await
            .expect("query")
            .items
            .len(),
        1,
        "another query is not the one read ahead"
    );
    let made = counting.calls().since(&before);
    assert_eq!(
        (made.get, made.query),
        (2, 1),
        "all three went to the table"
    );
    // A write through the primed table drops what was not taken yet: a read after it (a retry
    // after a lost race) sees the store.
    let ready = read_ahead(counting.as_ref(), vec![Read::Get(key.clone())]).await;
    let primed = PrimedTable::new(counting.clone(), ready);
    assert_eq!(primed.unused(), 1);
    primed
        .update(&key, Update::new().set("n", 3), None)
        .await
        .expect("update");
    assert_eq!(primed.unused(), 0, "dropped by the write");
    let before = counting.calls();
    assert_eq!(n(primed.get(&key).await.expect("get")), Some(3));
    assert_eq!(
        counting.calls().since(&before).get,
        1,
        "read from the table"
    );
}
