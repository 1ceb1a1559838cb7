//! Service pool, per-profile limits and usage counters, on both adapters: limits hold under
//! concurrency, one profile at its limit never blocks another, gauges never drift.

use std::sync::Arc;

use http::StatusCode;
use proptest::prelude::*;
use serde_json::json;
use shared::config::Config;
use shared::domain::Role;
use shared::domain::records::Permission;
use shared::domain::usage::{self, Service};
use shared::domain::{profiles, tokens};
use shared::keys;
use shared::refusal::Refusal;
use shared::store::{Query, Table, query_all};
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::world::{join, owner_of, person, profile};
use tokio::task::JoinSet;

tenantry_tests::on_both_adapters!(
    new_accounts_and_profiles_get_pool_and_included_services,
    limit_plus_fifty_concurrent_creations_let_exactly_limit_through,
    one_profile_at_its_limit_blocks_no_other,
    count_request_counts_and_refuses_at_the_limit_with_retry_after,
    management_routes_are_never_metered_nor_refused_for_api_requests,
    over_allocation_is_refused_and_moves_nothing,
    concurrent_allocations_never_pass_the_pool,
    lowering_below_use_blocks_growth,
    usage_statistics_and_cost,
);

fn token_body() -> serde_json::Value {
    json!({"name": "t", "permission": "read", "expires_in": "1 day", "password": PASSWORD})
}

async fn new_accounts_and_profiles_get_pool_and_included_services(api: Api) {
    let ann = api.account("ann@example.com").await;
    let account = api.get("/v1/account", &ann.token).await;
    let pool = shared::config::default_pool();
    let included = shared::config::default_included();
    for service in Service::ALL {
        let s = &account.json["services"][service.name()];
        assert_eq!(s["pool"], pool.get(service), "{service}: {}", account.text);
        assert_eq!(s["allocated"], included.get(service));
        assert_eq!(s["free"], pool.get(service) - included.get(service));
    }
    let read = api
        .get(&format!("/v1/profiles/{}", ann.pid), &ann.token)
        .await;
    assert_eq!(read.json["limits"]["tokens"], included.get(Service::Tokens));

    // A pool that cannot cover the included amounts: the profile gets what is left, and the
    // answer says so.
    let mut config = Config::default();
    config.pool.set(Service::Tokens, 15);
    let small = Api::with_config(api.app.table.clone(), config);
    let bob = small.account("bob@example.com").await;
    let second = small
        .post("/v1/profiles", Some(&bob.token), json!({"name": "Second"}))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_eq!(second.json["limits"]["tokens"], 5);
    assert_eq!(second.json["allocation_shortfall"], json!(["tokens"]));
    let third = small
        .post("/v1/profiles", Some(&bob.token), json!({"name": "Third"}))
        .await;
    assert_eq!(third.json["limits"]["tokens"], 0);
    let account = small.get("/v1/account", &bob.token).await;
    assert_eq!(account.json["services"]["tokens"]["free"], 0);
}

async fn limit_plus_fifty_concurrent_creations_let_exactly_limit_through(api: Api) {
    let ann = api.account("ann@example.com").await;
    let limits = format!("/v1/profiles/{}/limits", ann.pid);
    let set = api
        .call(
            http::Method::PUT,
            &limits,
            Some(&ann.token),
            Some(json!({"tokens": 7})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    // Six members of the profile race, at most ten at once each: issuing re-enters the password,
    // and the login throttle lets ten attempts per e-mail be in flight (tests/tests/throttle.rs);
    // here only the `tokens` limit may refuse.
    let pid: uuid::Uuid = ann.pid.parse().expect("a profile id");
    let mut sessions = vec![ann.token.clone()];
    for n in 0..5 {
        let (racer, _) = person(&api, &format!("racer{n}")).await;
        join(&api, pid, &racer, Role::Member).await;
        sessions.push(racer.session);
    }
    let api = Arc::new(api);
    let mut racers = JoinSet::new();
    for n in 0..7 + 50 {
        let api = api.clone();
        let path = format!("/v1/profiles/{}/tokens", ann.pid);
        let token = sessions[n % sessions.len()].clone();
        racers.spawn(async move { api.post(&path, Some(&token), token_body()).await });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(reply) = racers.join_next().await {
        let reply = reply.expect("a racer");
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.problem(), "limit-reached", "{}", reply.text);
                assert_eq!(reply.json["service"], "tokens");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!((created, refused), (7, 50));
    assert_eq!(token_items(api.app.table.as_ref(), &ann.pid).await, 7);
    let usage = api
        .get(&format!("/v1/profiles/{}/usage", ann.pid), &ann.token)
        .await;
    assert_eq!(
        usage.json["services"]["tokens"],
        json!({"used": 7, "limit": 7, "metering": "gauge"})
    );
}

async fn token_items(table: &dyn Table, pid: &str) -> usize {
    let pid: uuid::Uuid = pid.parse().expect("uuid");
    query_all(table, Query::gsi1(keys::profile_tokens(pid)))
        .await
        .expect("query")
        .len()
}

async fn one_profile_at_its_limit_blocks_no_other(api: Api) {
    let ann = api.account("ann@example.com").await;
    let b = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "B"}))
        .await
        .str("id");
    let carol = api.account("carol@example.com").await;
    let a_limits = format!("/v1/profiles/{}/limits", ann.pid);
    let put = |tokens: i64| {
        api.call(
            http::Method::PUT,
            &a_limits,
            Some(&ann.token),
            Some(json!({"tokens": tokens})),
        )
    };
    assert_eq!(put(1).await.status, StatusCode::OK);
    let a_tokens = format!("/v1/profiles/{}/tokens", ann.pid);
    assert_eq!(
        api.post(&a_tokens, Some(&ann.token), token_body())
            .await
            .status,
        StatusCode::CREATED
    );
    let refused = api
        .assert_unchanged("over the limit", || {
            api.post(&a_tokens, Some(&ann.token), token_body())
        })
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.content_type(), "application/problem+json");
    assert!(
        refused.headers.get("retry-after").is_none(),
        "a gauge frees up when items go"
    );
    // B of the same account and C of another account keep working.
    let b_tokens = format!("/v1/profiles/{b}/tokens");
    assert_eq!(
        api.post(&b_tokens, Some(&ann.token), token_body())
            .await
            .status,
        StatusCode::CREATED
    );
    let c_tokens = format!("/v1/profiles/{}/tokens", carol.pid);
    assert_eq!(
        api.post(&c_tokens, Some(&carol.token), token_body())
            .await
            .status,
        StatusCode::CREATED
    );
    // A recovers when its limit is raised.
    assert_eq!(put(2).await.status, StatusCode::OK);
    assert_eq!(
        api.post(&a_tokens, Some(&ann.token), token_body())
            .await
            .status,
        StatusCode::CREATED
    );
}

/// `api_requests` is counted by the application routes through `usage::count_request` (none
/// exists yet): it counts each call and, at the limit, refuses with the time to the next month.
async fn count_request_counts_and_refuses_at_the_limit_with_retry_after(api: Api) {
    let ann = api.account("ann@example.com").await;
    let b = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "B"}))
        .await
        .str("id");
    let put = api
        .call(
            http::Method::PUT,
            &format!("/v1/profiles/{}/limits", ann.pid),
            Some(&ann.token),
            Some(json!({"api_requests": 3})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let pid = ann.pid.parse().expect("an id");
    let profile = profiles::get(&api.app, pid).await.expect("profile");
    for _ in 0..3 {
        usage::count_request(&api.app, &profile)
            .await
            .expect("within the limit");
    }
    let refused = usage::count_request(&api.app, &profile).await;
    let Err(Refusal::LimitReached {
        service: Service::ApiRequests,
        retry_after: Some(retry),
    }) = refused
    else {
        panic!("expected limit-reached with a retry-after, got {refused:?}");
    };
    assert!(
        retry.as_secs() > 0 && retry.as_secs() <= 31 * 24 * 3600,
        "{retry:?}"
    );
    let used = api
        .get(&format!("/v1/profiles/{}/usage", ann.pid), &ann.token)
        .await;
    assert_eq!(
        used.json["services"]["api_requests"]["used"], 3,
        "the refused one is not counted: {}",
        used.text
    );
    // The other profile of the same account is not touched.
    let other = profiles::get(&api.app, b.parse().expect("an id"))
        .await
        .expect("profile");
    usage::count_request(&api.app, &other)
        .await
        .expect("another profile counts on");
    // Next month, the count starts again.
    api.app
        .clock
        .advance(chrono::Duration::seconds(retry.as_secs() as i64 + 1));
    usage::count_request(&api.app, &profile)
        .await
        .expect("a new month");
}

/// With `api_requests` exhausted, every management route (the profile, limits, usage,
/// statistics, team, invitations, tokens) answers as usual, for the owner and for a token,
/// and none counts a request.
async fn management_routes_are_never_metered_nor_refused_for_api_requests(api: Api) {
    let (owner, _) = person(&api, "owner").await;
    let (guest, _) = person(&api, "guest").await;
    let (third, _) = person(&api, "third").await;
    let pid = profile(&api, &owner, "Locked").await;
    let spare = profile(&api, &owner, "Spare").await;
    let one = format!("/v1/profiles/{pid}");
    let session = owner.session.as_str();
    let ok = |reply: &tenantry_tests::api::Reply, what: &str| {
        assert!(
            reply.status.is_success(),
            "{what}: {} {}",
            reply.status,
            reply.text
        );
    };
    // Exhausted: the limit is 0.
    let put = api
        .call(
            http::Method::PUT,
            &format!("{one}/limits"),
            Some(session),
            Some(json!({"api_requests": 0})),
        )
        .await;
    ok(&put, "PUT limits to 0");
    let counters_before = usage_items(&api, pid).await;

    ok(&api.get(&one, session).await, "GET profile");
    ok(
        &api.patch(&one, session, json!({"name": "Still mine"}))
            .await,
        "PATCH profile",
    );
    ok(
        &api.get(&format!("{one}/usage"), session).await,
        "GET usage",
    );
    let today = api.app.now().date_naive();
    ok(
        &api.get(
            &format!("{one}/statistics?start={today}&end={today}&periodicity=day"),
            session,
        )
        .await,
        "GET statistics",
    );
    let issued = api
        .post(&format!("{one}/tokens"), Some(session), token_body())
        .await;
    ok(&issued, "POST tokens");
    let token = issued.str("token");
    ok(&api.get(&one, &token).await, "GET profile with a token");
    ok(
        &api.get(&format!("{one}/tokens"), session).await,
        "GET tokens",
    );
    ok(
        &api.delete(&format!("{one}/tokens/{}", issued.str("id")), session, None)
            .await,
        "DELETE token",
    );
    let invited = api
        .post(
            &format!("{one}/team"),
            Some(session),
            json!({"email": guest.email, "role": "admin"}),
        )
        .await;
    ok(&invited, "POST team");
    let iid = invited.str("id");
    ok(&api.get(&format!("{one}/team"), session).await, "GET team");
    ok(
        &api.post(
            &format!("{one}/invitations/{iid}/resend"),
            Some(session),
            json!({}),
        )
        .await,
        "resend",
    );
    ok(
        &api.call(
            http::Method::POST,
            &format!("/v1/invitations/{iid}/accept"),
            Some(&guest.session),
            None,
        )
        .await,
        "accept",
    );
    ok(
        &api.patch(
            &format!("{one}/team/{}", guest.aid),
            session,
            json!({"role": "member"}),
        )
        .await,
        "PATCH team role",
    );
    ok(
        &api.get(&one, &guest.session).await,
        "GET profile as a member",
    );
    let other = api
        .post(
            &format!("{one}/team"),
            Some(session),
            json!({"email": third.email}),
        )
        .await;
    ok(&other, "POST team again");
    ok(
        &api.delete(
            &format!("{one}/invitations/{}", other.str("id")),
            session,
            None,
        )
        .await,
        "revoke invitation",
    );
    ok(
        &api.delete(&format!("{one}/team/{}", guest.aid), session, None)
            .await,
        "DELETE team member",
    );
    ok(
        &api.call(
            http::Method::PUT,
            &format!("{one}/limits"),
            Some(session),
            Some(json!({"api_requests": 10})),
        )
        .await,
        "PUT limits back up",
    );
    let usage = api.get(&format!("{one}/usage"), session).await;
    assert_eq!(
        usage.json["services"]["api_requests"]["used"], 0,
        "nothing counted: {}",
        usage.text
    );
    let counters_after = usage_items(&api, pid).await;
    assert_eq!(
        api_requests_in(&counters_before),
        api_requests_in(&counters_after),
        "no api_requests counter moved"
    );
    ok(
        &api.delete(
            &format!("/v1/profiles/{spare}"),
            session,
            Some(json!({"password": PASSWORD})),
        )
        .await,
        "DELETE profile",
    );
}

/// The profile's usage items (`USAGE#…`).
async fn usage_items(api: &Api, pid: uuid::Uuid) -> Vec<shared::store::Item> {
    query_all(
        api.app.table.as_ref(),
        Query::partition(keys::profile_partition(pid)).prefix(keys::USAGE_PREFIX),
    )
    .await
    .expect("usage items")
}

/// Every `api_requests` attribute of `items`, with its item's sort key.
fn api_requests_in(items: &[shared::store::Item]) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for item in items {
        for (name, value) in item {
            if name.contains("api_requests") {
                found.push((
                    item["SK"].as_str().unwrap_or("").to_owned(),
                    name.clone(),
                    value.to_string(),
                ));
            }
        }
    }
    found.sort();
    found
}

async fn over_allocation_is_refused_and_moves_nothing(api: Api) {
    let ann = api.account("ann@example.com").await;
    let limits = format!("/v1/profiles/{}/limits", ann.pid);
    let pool = shared::config::default_pool().get(Service::Tokens);
    let refused = api
        .assert_unchanged("over-allocation", || {
            api.call(
                http::Method::PUT,
                &limits,
                Some(&ann.token),
                Some(json!({"tokens": pool + 1, "emails": 5})),
            )
        })
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(refused.text.contains("tokens"), "{}", refused.text);
    // The whole pool is fine, and what it took shows on the account.
    let all = api
        .call(
            http::Method::PUT,
            &limits,
            Some(&ann.token),
            Some(json!({"tokens": pool})),
        )
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let account = api.get("/v1/account", &ann.token).await;
    assert_eq!(account.json["services"]["tokens"]["free"], 0);
    // A new profile then gets no tokens, and says so.
    let more = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "More"}))
        .await;
    assert_eq!(more.json["limits"]["tokens"], 0);
    assert_eq!(more.json["allocation_shortfall"], json!(["tokens"]));
    for bad in [
        json!({"tokens": -1}),
        json!({"tokens": "5"}),
        json!({"seats": 5}),
    ] {
        let reply = api
            .assert_writes_nothing(&bad.to_string(), || {
                api.call(
                    http::Method::PUT,
                    &limits,
                    Some(&ann.token),
                    Some(bad.clone()),
                )
            })
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.text
        );
    }
}

async fn concurrent_allocations_never_pass_the_pool(api: Api) {
    let ann = api.account("ann@example.com").await;
    let second = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "Second"}))
        .await
        .str("id");
    let pool = shared::config::default_pool().get(Service::Tokens);
    let api = Arc::new(api);
    let mut racers = JoinSet::new();
    for i in 0..12 {
        let api = api.clone();
        let pid = if i % 2 == 0 {
            ann.pid.clone()
        } else {
            second.clone()
        };
        let token = ann.token.clone();
        // Each asks for 60% of the pool: at most one of the two profiles can have it.
        let want = pool * 6 / 10 + i;
        racers.spawn(async move {
            api.call(
                http::Method::PUT,
                &format!("/v1/profiles/{pid}/limits"),
                Some(&token),
                Some(json!({"tokens": want})),
            )
            .await
        });
    }
    while let Some(reply) = racers.join_next().await {
        let reply = reply.expect("a racer");
        assert!(
            matches!(reply.status, StatusCode::OK | StatusCode::CONFLICT),
            "{}: {}",
            reply.status,
            reply.text
        );
    }
    let a = profiles::get(&api.app, ann.pid.parse().expect("uuid"))
        .await
        .expect("a");
    let b = profiles::get(&api.app, second.parse().expect("uuid"))
        .await
        .expect("b");
    let sum = a.limit(Service::Tokens) + b.limit(Service::Tokens);
    assert!(sum <= pool, "limits {sum} exceed the pool {pool}");
    let account = api.get("/v1/account", &ann.token).await;
    assert_eq!(
        account.json["services"]["tokens"]["allocated"], sum,
        "{}",
        account.text
    );
}

async fn lowering_below_use_blocks_growth(api: Api) {
    let ann = api.account("ann@example.com").await;
    let path = format!("/v1/profiles/{}/tokens", ann.pid);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            api.post(&path, Some(&ann.token), token_body())
                .await
                .str("id"),
        );
    }
    let limits = format!("/v1/profiles/{}/limits", ann.pid);
    let lowered = api
        .call(
            http::Method::PUT,
            &limits,
            Some(&ann.token),
            Some(json!({"tokens": 1})),
        )
        .await;
    assert_eq!(lowered.status, StatusCode::OK, "{}", lowered.text);
    assert_eq!(
        api.post(&path, Some(&ann.token), token_body()).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Existing tokens still work and can be revoked; below the limit again, growth resumes.
    for id in &ids[..3] {
        assert_eq!(
            api.delete(&format!("{path}/{id}"), &ann.token, None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        api.post(&path, Some(&ann.token), token_body()).await.status,
        StatusCode::CREATED
    );
}

async fn usage_statistics_and_cost(api: Api) {
    let ann = api.account("ann@example.com").await;
    let b = api
        .post("/v1/profiles", Some(&ann.token), json!({"name": "B"}))
        .await
        .str("id");
    let a = ann.pid.clone();
    api.post(
        &format!("/v1/profiles/{a}/tokens"),
        Some(&ann.token),
        token_body(),
    )
    .await;
    // Three application requests (counted as the application routes count them); the
    // management GETs around them count nothing.
    let counted = profiles::get(&api.app, b.parse().expect("an id"))
        .await
        .expect("profile");
    for _ in 0..3 {
        usage::count_request(&api.app, &counted)
            .await
            .expect("counted");
        api.get(&format!("/v1/profiles/{b}"), &ann.token).await;
    }
    let usage = api
        .get(&format!("/v1/profiles/{b}/usage"), &ann.token)
        .await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    assert_eq!(
        usage.json["services"]["api_requests"]["used"], 3,
        "{}",
        usage.text
    );
    assert_eq!(
        usage.json["services"]["api_requests"]["metering"],
        "monthly"
    );

    let today = api.app.now().date_naive();
    let start = today - chrono::Duration::days(2);
    let stats = api
        .get(
            &format!("/v1/profiles/{b}/statistics?start={start}&end={today}&periodicity=day"),
            &ann.token,
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    let series = stats.json["series"]["api_requests"]
        .as_array()
        .expect("series");
    assert_eq!(series.len(), 3);
    assert_eq!(series[2]["period"], today.format("%Y-%m-%d").to_string());
    assert!(
        series[2]["value"].as_i64().expect("value") >= 3,
        "{}",
        stats.text
    );
    let monthly = api
        .get(
            &format!("/v1/profiles/{a}/statistics?start={today}&end={today}&periodicity=month"),
            &ann.token,
        )
        .await;
    assert_eq!(
        monthly.json["series"]["tokens"][0]["value"], 1,
        "{}",
        monthly.text
    );
    for bad in [
        "start=2026-13-01&end=2026-12-01",
        "start=2026-02-01&end=2026-01-01",
        "start=2026-01-01&end=2026-01-02&periodicity=week",
        "end=2026-01-01",
    ] {
        let reply = api
            .get(&format!("/v1/profiles/{a}/statistics?{bad}"), &ann.token)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.text
        );
    }

    let stats = api.get("/v1/account/statistics", &ann.token).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    let profiles = stats.json["profiles"].as_array().expect("profiles");
    assert_eq!(profiles.len(), 2);
    let prices = shared::config::default_prices();
    let mut total = 0.0;
    let mut requests = 0;
    for p in profiles {
        let used = p["services"]["api_requests"]["used"]
            .as_i64()
            .expect("used");
        requests += used;
        let cost = p["services"]["api_requests"]["cost"]
            .as_f64()
            .expect("cost");
        assert!((cost - used as f64 * prices[&Service::ApiRequests]).abs() < 1e-9);
        total += p["cost"].as_f64().expect("cost");
    }
    assert_eq!(
        stats.json["totals"]["services"]["api_requests"]["used"],
        requests
    );
    assert!((stats.json["totals"]["cost"].as_f64().expect("total") - total).abs() < 1e-6);
    assert_eq!(stats.json["currency"], "USD");
    let bad = api
        .get("/v1/account/statistics?month=2026-13", &ann.token)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Random create/revoke sequences: the `tokens` gauge always equals the number of tokens. Run
/// on each adapter through the domain, several cases of up to 24 steps each.
type TableFixture = fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Table>>>>;

fn gauge_tracks_items(table: TableFixture) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let api = runtime.block_on(async { Api::new(table().await) });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &proptest::collection::vec(any::<(bool, u8)>(), 1..24),
            |steps| {
                runtime.block_on(async {
                    let (owner, _) = person(&api, "owner").await;
                    let pid = profile(&api, &owner, "Gauged").await;
                    let mut live: Vec<uuid::Uuid> = Vec::new();
                    for (create, pick) in steps {
                        let current = profiles::get(&api.app, pid).await.expect("profile");
                        if create || live.is_empty() {
                            match tokens::create(
                                &api.app,
                                &current,
                                owner.aid,
                                "p".into(),
                                Permission::Read,
                                None,
                                &shared::domain::audit::Audit::system(),
                            )
                            .await
                            {
                                Ok((token, _)) => live.push(token.tid),
                                Err(shared::refusal::Refusal::LimitReached { .. }) => {}
                                Err(other) => panic!("create: {other:?}"),
                            }
                        } else {
                            let tid = live.remove(pick as usize % live.len());
                            let caller = owner_of(&owner, current);
                            tokens::revoke(
                                &api.app,
                                &caller,
                                tid,
                                &shared::domain::audit::Audit::system(),
                            )
                            .await
                            .expect("revoke");
                        }
                        let after = profiles::get(&api.app, pid).await.expect("profile");
                        let items = token_items(api.app.table.as_ref(), &pid.to_string()).await;
                        assert_eq!(
                            after.gauge(Service::Tokens) as usize,
                            items,
                            "gauge drifted"
                        );
                        assert_eq!(items, live.len());
                    }
                });
                Ok(())
            },
        )
        .expect("the gauge always equals the items");
}

#[test]
fn gauge_equals_items_embedded() {
    gauge_tracks_items(|| Box::pin(tenantry_tests::fixtures::embedded_table()));
}

#[test]
fn gauge_equals_items_dynamodb() {
    gauge_tracks_items(|| Box::pin(tenantry_tests::fixtures::dynamo_table()));
}
