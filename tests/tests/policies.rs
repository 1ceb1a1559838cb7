//! Access policies end to end, on both adapters: the catalogue, policies and their refusals,
//! the check (each effect, each selector form, batches, explain), what applies to a run user,
//! the cache's invalidation by the very next check, run users checking themselves, other
//! tenants, the `policies` gauge under concurrency.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::usage::meter;
use tenantry_tests::api::{Account, Api, Reply};
use tokio::task::JoinSet;

tenantry_tests::on_both_adapters!(
    each_effect_and_batches_in_order,
    each_selector_form_selects_what_it_says,
    explain_lists_matches_and_what_applies_to_a_user,
    the_next_check_sees_every_change,
    a_warm_check_reads_no_policy,
    run_users_check_themselves_only,
    other_tenants_get_404,
    inert_policies_are_refused_and_write_nothing,
    the_catalogue_defaults_and_keeps_what_policies_use,
    revisions_guard_against_lost_updates,
    the_gauge_holds_under_concurrent_creates,
);

const RUN_PASSWORD: &str = "run user's long passphrase";

fn unique(label: &str) -> String {
    format!("{label}-{}@example.com", uuid::Uuid::now_v7().simple())
}

fn tags(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect()
}

/// A run user of `owner`'s profile with `pairs` as tags; its id.
async fn run_user(api: &Api, owner: &Account, pairs: &[(&str, &str)]) -> String {
    let reply = api
        .post(
            &format!("/v1/profiles/{}/run/users", owner.pid),
            Some(&owner.token),
            json!({"email": unique("run"), "name": "Rita", "password": RUN_PASSWORD,
                   "tags": tags(pairs)}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.str("id")
}

async fn policy(api: &Api, owner: &Account, body: Value) -> Reply {
    api.post(
        &format!("/v1/profiles/{}/policies", owner.pid),
        Some(&owner.token),
        body,
    )
    .await
}

/// Saves a policy that must be accepted; its id.
async fn saved(api: &Api, owner: &Account, body: Value) -> String {
    let reply = policy(api, owner, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.str("id")
}

fn allow(targets: Value, actions: &[&str], resources: Value) -> Value {
    json!({"name": "p", "targets": targets,
           "permissions": [{"effect": "allow", "actions": actions, "resources": resources}]})
}

async fn check(api: &Api, owner: &Account, query: &str, body: Value) -> Reply {
    api.post(
        &format!("/v1/profiles/{}/policies/check{query}", owner.pid),
        Some(&owner.token),
        body,
    )
    .await
}

/// One check of `uid` that must answer; its decision.
async fn decide(api: &Api, owner: &Account, uid: &str, action: &str, resource: Value) -> Value {
    let reply = check(
        api,
        owner,
        "",
        json!({"target": {"run_user": uid}, "action": action, "resource": resource}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json
}

async fn each_effect_and_batches_in_order(api: Api) {
    let ann = api.account("ann@example.com").await;
    let eng = run_user(&api, &ann, &[("team", "eng")]).await;
    let ops = run_user(&api, &ann, &[("team", "ops")]).await;
    let gone = run_user(&api, &ann, &[("team", "eng")]).await;
    let engineers = saved(
        &api,
        &ann,
        allow(
            json!([{"tag": {"key": "team", "value": "eng"}}]),
            &["access", "edit"],
            json!([{"type": "device"}]),
        ),
    )
    .await;
    let locked = saved(
        &api,
        &ann,
        json!({"name": "locked", "targets": [{"any_run_user": true}],
               "permissions": [{"effect": "deny", "actions": ["edit"],
                                "resources": [{"type": "device", "id": "locked"}]}]}),
    )
    .await;
    let off = api
        .patch(
            &format!("/v1/profiles/{}/run/users/{gone}", ann.pid),
            &ann.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    let device = |id: &str| json!({"type": "device", "id": id});
    let asks = json!({"checks": [
        {"target": {"run_user": eng}, "action": "access", "resource": device("d1")},
        {"target": {"run_user": eng}, "action": "edit", "resource": device("locked")},
        {"target": {"run_user": ops}, "action": "access", "resource": device("d1")},
        {"target": {"run_user": eng}, "action": "delete", "resource": device("d1")},
        {"target": {"tags": tags(&[("team", "eng")])}, "action": "edit", "resource": device("d1")},
        {"target": {"run_user": gone}, "action": "access", "resource": device("d1")},
        {"target": {"run_user": eng}, "action": "edit", "resource": device("d2")},
    ]});
    let reply = check(&api, &ann, "", asks).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let results = reply.json["results"].as_array().expect("results").clone();
    let effects: Vec<(&str, &Value)> = results
        .iter()
        .map(|result| {
            (
                result["effect"].as_str().unwrap_or(""),
                &result["decided_by"],
            )
        })
        .collect();
    assert_eq!(
        effects,
        vec![
            ("allow", &json!(engineers)),
            ("deny", &json!(locked)),
            ("default-deny", &Value::Null),
            ("default-deny", &Value::Null),
            ("allow", &json!(engineers)),
            ("user-inactive", &Value::Null),
            ("allow", &json!(engineers)),
        ],
        "in the order asked: {}",
        reply.text
    );
    assert_eq!(results[0]["allowed"], json!(true));
    assert_eq!(results[1]["allowed"], json!(false));
    assert!(
        results[0].get("matches").is_none(),
        "no explanation unasked"
    );
    // The single form answers the same decision as the batch's first.
    let one = decide(&api, &ann, &eng, "access", device("d1")).await;
    assert_eq!(one, results[0]);
    // A batch counts one request, however many checks it holds.
    let used = || async {
        api.get(&format!("/v1/profiles/{}/usage", ann.pid), &ann.token)
            .await
            .json["services"]["api_requests"]["used"]
            .as_i64()
            .expect("api_requests")
    };
    let before = used().await;
    let three = json!({"checks": [
        {"target": {"run_user": eng}, "action": "access", "resource": device("a")},
        {"target": {"run_user": eng}, "action": "access", "resource": device("b")},
        {"target": {"run_user": ops}, "action": "access", "resource": device("c")},
    ]});
    assert_eq!(check(&api, &ann, "", three).await.status, StatusCode::OK);
    assert_eq!(
        used().await,
        before + 1,
        "the batch counts once (the usage route is not metered)"
    );
    // Bounds of a batch.
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"target": {"tags": []}, "action": "access", "resource": device("a")}))
        .collect();
    for (body, field) in [
        (json!({"checks": many}), "checks"),
        (json!({"checks": []}), "checks"),
        (
            json!({"checks": [{"target": {"tags": []}, "action": "access"}]}),
            "checks[0]",
        ),
        (
            json!({"checks": [{"target": {"run_user": uuid::Uuid::now_v7()}, "action": "access",
                                "resource": device("a")}]}),
            "checks[0].target.run_user",
        ),
    ] {
        let reply = check(&api, &ann, "", body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        assert_eq!(reply.json["field"], json!(field), "{}", reply.text);
    }
}

async fn each_selector_form_selects_what_it_says(api: Api) {
    let ann = api.account("ann@example.com").await;
    let put = api
        .call(
            Method::PUT,
            &format!("/v1/profiles/{}/resource-types", ann.pid),
            Some(&ann.token),
            Some(json!({"doc": ["by_type", "by_id", "by_tag", "by_match", "by_path"]})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let uid = run_user(&api, &ann, &[("site", "paris")]).await;
    let permission = |action: &str, selector: Value| json!({"effect": "allow", "actions": [action], "resources": [selector]});
    saved(
        &api,
        &ann,
        json!({"name": "forms", "targets": [{"run_user": uid}], "permissions": [
            permission("by_type", json!({"type": "doc"})),
            permission("by_id", json!({"type": "doc", "id": "x"})),
            permission("by_tag", json!({"type": "doc", "tag": {"key": "lvl", "value": "1"}})),
            permission("by_match", json!({"type": "doc", "tag_match": "site"})),
            permission("by_path", json!({"type": "doc", "path_prefix": "/eng/"})),
        ]}),
    )
    .await;
    let cases = [
        ("by_type", json!({"type": "doc"}), true),
        ("by_id", json!({"type": "doc", "id": "x"}), true),
        ("by_id", json!({"type": "doc", "id": "y"}), false),
        ("by_id", json!({"type": "doc"}), false),
        (
            "by_tag",
            json!({"type": "doc", "tags": tags(&[("lvl", "1")])}),
            true,
        ),
        (
            "by_tag",
            json!({"type": "doc", "tags": tags(&[("lvl", "2")])}),
            false,
        ),
        (
            "by_match",
            json!({"type": "doc", "tags": tags(&[("site", "paris")])}),
            true,
        ),
        (
            "by_match",
            json!({"type": "doc", "tags": tags(&[("site", "rome")])}),
            false,
        ),
        ("by_match", json!({"type": "doc"}), false),
        (
            "by_path",
            json!({"type": "doc", "path": "/eng/a.txt"}),
            true,
        ),
        (
            "by_path",
            json!({"type": "doc", "path": "/ops/a.txt"}),
            false,
        ),
        ("by_type", json!({"type": "other"}), false),
    ];
    for (action, resource, allowed) in cases {
        let decision = decide(&api, &ann, &uid, action, resource.clone()).await;
        assert_eq!(
            decision["allowed"],
            json!(allowed),
            "{action} on {resource}: {decision}"
        );
    }
}

async fn explain_lists_matches_and_what_applies_to_a_user(api: Api) {
    let ann = api.account("ann@example.com").await;
    let uid = run_user(&api, &ann, &[("site", "paris")]).await;
    let sites = saved(
        &api,
        &ann,
        allow(
            json!([{"any_run_user": true}]),
            &["access", "edit"],
            json!([{"type": "device", "tag_match": "site"}]),
        ),
    )
    .await;
    let frozen = saved(
        &api,
        &ann,
        json!({"name": "frozen", "targets": [{"run_user": uid}],
               "permissions": [{"effect": "deny", "actions": ["edit"],
                                "resources": [{"type": "device"}]}]}),
    )
    .await;
    let body = json!({"target": {"run_user": uid}, "action": "edit",
                      "resource": {"type": "device", "tags": tags(&[("site", "paris")])}});
    let reply = check(&api, &ann, "?explain=true", body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["effect"], "deny");
    assert_eq!(
        reply.json["matches"],
        json!([
            {"policy_id": sites, "policy_name": "p", "permission": 0, "effect": "allow"},
            {"policy_id": frozen, "policy_name": "frozen", "permission": 0, "effect": "deny"},
        ])
    );
    let bad = check(&api, &ann, "?explain=yes", body.clone()).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json["field"], "explain");
    let applies = api
        .get(
            &format!("/v1/profiles/{}/run/users/{uid}/permissions", ann.pid),
            &ann.token,
        )
        .await;
    assert_eq!(applies.status, StatusCode::OK, "{}", applies.text);
    assert_eq!(applies.json["run_user"], json!(uid));
    assert_eq!(applies.json["active"], json!(true));
    let permissions = applies.json["permissions"].as_array().expect("a list");
    assert_eq!(permissions.len(), 2, "{}", applies.text);
    assert_eq!(
        permissions[0]["resources"],
        json!([{"type": "device", "tag": {"key": "site", "value": "paris"}}]),
        "tag_match resolved to the user's value"
    );
    assert_eq!(permissions[0]["overrides"], json!(false));
    assert_eq!(permissions[1]["effect"], "deny");
    assert_eq!(permissions[1]["overrides"], json!(true));
    let nobody = api
        .get(
            &format!(
                "/v1/profiles/{}/run/users/{}/permissions",
                ann.pid,
                uuid::Uuid::now_v7()
            ),
            &ann.token,
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

async fn the_next_check_sees_every_change(api: Api) {
    let ann = api.account("ann@example.com").await;
    let uid = run_user(&api, &ann, &[("team", "eng")]).await;
    let id = saved(
        &api,
        &ann,
        allow(
            json!([{"tag": {"key": "team", "value": "eng"}}]),
            &["access"],
            json!([{"type": "device"}]),
        ),
    )
    .await;
    // A second process on the same table: its cache learns of changes only by the version.
    let other = Api::new(api.app.table.clone());
    let device = json!({"type": "device", "id": "d1"});
    let effect = |side: &'static str| {
        let api = if side == "this" { &api } else { &other };
        decide(api, &ann, &uid, "access", device.clone())
    };
    for side in ["this", "other"] {
        assert_eq!(effect(side).await["effect"], "allow");
    }
    let patched = api
        .patch(
            &format!("/v1/profiles/{}/policies/{id}", ann.pid),
            &ann.token,
            json!({"permissions": [{"effect": "deny", "actions": ["access"],
                                    "resources": [{"type": "device"}]}]}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    for side in ["this", "other"] {
        assert_eq!(effect(side).await["effect"], "deny", "the very next check");
    }
    let inactive = api
        .patch(
            &format!("/v1/profiles/{}/policies/{id}", ann.pid),
            &ann.token,
            json!({"active": false, "permissions": [{"effect": "allow", "actions": ["access"],
                                    "resources": [{"type": "device"}]}]}),
        )
        .await;
    assert_eq!(inactive.status, StatusCode::OK);
    assert_eq!(
        effect("other").await["effect"],
        "default-deny",
        "inactive policies are ignored"
    );
    let active = api
        .patch(
            &format!("/v1/profiles/{}/policies/{id}", ann.pid),
            &ann.token,
            json!({"active": true}),
        )
        .await;
    assert_eq!(active.status, StatusCode::OK);
    assert_eq!(effect("other").await["effect"], "allow");
    let retagged = api
        .patch(
            &format!("/v1/profiles/{}/run/users/{uid}", ann.pid),
            &ann.token,
            json!({"tags": tags(&[("team", "ops")])}),
        )
        .await;
    assert_eq!(retagged.status, StatusCode::OK);
    assert_eq!(
        effect("other").await["effect"],
        "default-deny",
        "the user's new tags"
    );
    api.patch(
        &format!("/v1/profiles/{}/run/users/{uid}", ann.pid),
        &ann.token,
        json!({"tags": tags(&[("team", "eng")]), "active": false}),
    )
    .await;
    assert_eq!(effect("other").await["effect"], "user-inactive");
    api.patch(
        &format!("/v1/profiles/{}/run/users/{uid}", ann.pid),
        &ann.token,
        json!({"active": true}),
    )
    .await;
    assert_eq!(effect("other").await["effect"], "allow");
    let deleted = api
        .delete(
            &format!("/v1/profiles/{}/policies/{id}", ann.pid),
            &ann.token,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        effect("other").await["effect"],
        "default-deny",
        "after the delete"
    );
}

/// A run user of `owner`'s profile, signed in: its id and session.
async fn signed_in(api: &Api, owner: &Account, pairs: &[(&str, &str)]) -> (String, String) {
    let email = unique("self");
    let created = api
        .post(
            &format!("/v1/profiles/{}/run/users", owner.pid),
            Some(&owner.token),
            json!({"email": email, "name": "Sam", "password": RUN_PASSWORD, "tags": tags(pairs)}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let login = api
        .post(
            &format!("/v1/profiles/{}/run/login", owner.pid),
            None,
            json!({"email": email, "password": RUN_PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    (created.str("id"), login.str("token"))
}

async fn a_warm_check_reads_no_policy(api: Api) {
    let ann = api.account("ann@example.com").await;
    let (uid, session) = signed_in(&api, &ann, &[("team", "eng")]).await;
    saved(
        &api,
        &ann,
        allow(
            json!([{"any_run_user": true}]),
            &["run"],
            json!([{"type": "analysis"}]),
        ),
    )
    .await;
    let resource = json!({"type": "analysis"});
    decide(&api, &ann, &uid, "run", resource.clone()).await;
    // What was counted so far is written, so the next request's count stays in memory
    // (`domain::usage::meter`: one write per batch).
    meter::flush_all(&api.app).await;
    let before = api.calls();
    assert_eq!(
        decide(&api, &ann, &uid, "run", resource.clone()).await["effect"],
        "allow"
    );
    let made = api.calls().since(&before);
    // The session, then the membership and the profile (with its version) together, then the
    // run user; the `api_requests` count writes nothing yet.
    assert_eq!(
        (made.get, made.update, made.query, made.transact),
        (4, 0, 0, 0),
        "{made:?}"
    );
    let own = json!({"action": "run", "resource": resource});
    let first = api.post("/v1/run/check", Some(&session), own.clone()).await;
    assert_eq!(first.json["effect"], "allow", "{}", first.text);
    meter::flush_all(&api.app).await;
    let before = api.calls();
    api.post("/v1/run/check", Some(&session), own).await;
    let made = api.calls().since(&before);
    // The session, then the user and the profile together: nothing more.
    assert_eq!(
        (made.get, made.update, made.query, made.transact),
        (3, 0, 0, 0),
        "{made:?}"
    );
}

async fn run_users_check_themselves_only(api: Api) {
    let ann = api.account("ann@example.com").await;
    let (uid, session) = signed_in(&api, &ann, &[("team", "eng")]).await;
    let other = run_user(&api, &ann, &[("team", "eng")]).await;
    saved(
        &api,
        &ann,
        allow(
            json!([{"run_user": uid}]),
            &["read"],
            json!([{"type": "file", "path_prefix": "/home/sam/"}]),
        ),
    )
    .await;
    let own = |path: &str| json!({"action": "read", "resource": {"type": "file", "path": path}});
    let one = api
        .post("/v1/run/check", Some(&session), own("/home/sam/notes"))
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.json["effect"], "allow");
    let batch = api
        .post(
            "/v1/run/check",
            Some(&session),
            json!({"checks": [own("/home/ann/x"), own("/home/sam/x")]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text);
    assert_eq!(batch.json["results"][0]["effect"], "default-deny");
    assert_eq!(batch.json["results"][1]["effect"], "allow");
    // Never about someone else.
    for body in [
        json!({"target": {"run_user": other}, "action": "read", "resource": {"type": "file"}}),
        json!({"checks": [{"target": {"run_user": other}, "action": "read",
                           "resource": {"type": "file"}}]}),
    ] {
        let refused = api.post("/v1/run/check", Some(&session), body).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
    }
    let explain = api
        .post(
            "/v1/run/check?explain=true",
            Some(&session),
            own("/home/sam/x"),
        )
        .await;
    assert_eq!(explain.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A team session is not a run user's, and a run user is a stranger to the team's check.
    let team = api
        .post("/v1/run/check", Some(&ann.token), own("/home/sam/x"))
        .await;
    assert_eq!(team.status, StatusCode::FORBIDDEN);
    let stranger = api
        .post(
            &format!("/v1/profiles/{}/policies/check", ann.pid),
            Some(&session),
            json!({"target": {"run_user": other}, "action": "read", "resource": {"type": "file"}}),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
}

async fn other_tenants_get_404(api: Api) {
    let ann = api.account("ann@example.com").await;
    let bob = api.account("bob@example.com").await;
    let id = saved(
        &api,
        &ann,
        allow(
            json!([{"any_run_user": true}]),
            &["run"],
            json!([{"type": "analysis"}]),
        ),
    )
    .await;
    let anns = run_user(&api, &ann, &[]).await;
    let base = format!("/v1/profiles/{}", ann.pid);
    for (method, path, body) in [
        (Method::GET, format!("{base}/resource-types"), None),
        (
            Method::PUT,
            format!("{base}/resource-types"),
            Some(json!({"file": ["read"]})),
        ),
        (Method::GET, format!("{base}/policies"), None),
        (
            Method::POST,
            format!("{base}/policies"),
            Some(allow(
                json!([{"any_run_user": true}]),
                &["run"],
                json!([{"type": "analysis"}]),
            )),
        ),
        (Method::GET, format!("{base}/policies/{id}"), None),
        (
            Method::PATCH,
            format!("{base}/policies/{id}"),
            Some(json!({"active": false})),
        ),
        (Method::DELETE, format!("{base}/policies/{id}"), None),
        (
            Method::GET,
            format!("{base}/run/users/{anns}/permissions"),
            None,
        ),
        (
            Method::POST,
            format!("{base}/policies/check"),
            Some(
                json!({"target": {"tags": []}, "action": "run", "resource": {"type": "analysis"}}),
            ),
        ),
    ] {
        let reply = api
            .assert_unchanged(&format!("{method} {path}"), || {
                api.call(method.clone(), &path, Some(&bob.token), body.clone())
            })
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Ann's ids under Bob's own profile are unknown there too.
    let mine = format!("/v1/profiles/{}", bob.pid);
    let reply = api.get(&format!("{mine}/policies/{id}"), &bob.token).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = check(
        &api,
        &bob,
        "",
        json!({"target": {"run_user": anns}, "action": "run", "resource": {"type": "analysis"}}),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.json["field"], "target.run_user");
    let reply = policy(
        &api,
        &bob,
        allow(
            json!([{"run_user": anns}]),
            &["run"],
            json!([{"type": "analysis"}]),
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.json["field"], "targets[0].run_user");
}

/// The policy items and the policy-set version of `pid`.
async fn policy_state(api: &Api, pid: &str) -> (usize, Value) {
    let items = api.snapshot().await;
    let partition = format!("PROFILE#{pid}");
    let count = items
        .iter()
        .filter(|item| item["PK"] == json!(partition))
        .filter(|item| {
            item["SK"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("POLICY#"))
        })
        .count();
    let version = items
        .iter()
        .find(|item| item["PK"] == json!(partition) && item["SK"] == "PROFILE")
        .map(|item| item.get("policy_version").cloned().unwrap_or(json!(0)))
        .unwrap_or(Value::Null);
    (count, version)
}

async fn inert_policies_are_refused_and_write_nothing(api: Api) {
    let ann = api.account("ann@example.com").await;
    let ok = allow(
        json!([{"any_run_user": true}]),
        &["access"],
        json!([{"type": "device"}]),
    );
    let id = saved(&api, &ann, ok.clone()).await;
    let with = |field: &str, value: Value| {
        let mut body = ok.clone();
        body[field] = value;
        body
    };
    let permission = |actions: Value, resources: Value| json!([{"effect": "allow", "actions": actions, "resources": resources}]);
    let cases = [
        (with("targets", json!([])), "targets"),
        (
            with("targets", json!([{"any_run_user": false}])),
            "targets[0].any_run_user",
        ),
        (
            with("targets", json!([{"run_user": uuid::Uuid::now_v7()}])),
            "targets[0].run_user",
        ),
        (
            with("targets", json!([{"tag": {"key": "", "value": "x"}}])),
            "targets[0].tag.key",
        ),
        (with("permissions", json!([])), "permissions"),
        (
            with(
                "permissions",
                permission(json!([]), json!([{"type": "device"}])),
            ),
            "permissions[0].actions",
        ),
        (
            with("permissions", permission(json!(["access"]), json!([]))),
            "permissions[0].resources",
        ),
        (
            with(
                "permissions",
                permission(json!(["access"]), json!([{"type": "robot"}])),
            ),
            "permissions[0].resources[0].type",
        ),
        (
            with(
                "permissions",
                permission(json!(["fly"]), json!([{"type": "device"}])),
            ),
            "permissions[0].actions[0]",
        ),
        (
            with(
                "permissions",
                permission(
                    json!(["access"]),
                    json!([{"type": "device"}, {"type": "file"}]),
                ),
            ),
            "permissions[0].resources[1].type",
        ),
        (
            with(
                "permissions",
                permission(
                    json!(["access"]),
                    json!([{"type": "device", "id": "a", "path_prefix": "/"}]),
                ),
            ),
            "permissions[0].resources[0]",
        ),
        (
            with(
                "permissions",
                permission(json!(["access"]), json!([{"type": "device", "id": ""}])),
            ),
            "permissions[0].resources[0].id",
        ),
        (with("name", json!("")), "name"),
    ];
    let before = policy_state(&api, &ann.pid).await;
    for (body, field) in cases {
        let reply = api
            .assert_writes_nothing(field, || policy(&api, &ann, body.clone()))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            reply.text
        );
        assert_eq!(reply.json["field"], json!(field), "{}", reply.text);
        // The same change to the saved policy: refused at the same path, nothing written.
        let path = format!("/v1/profiles/{}/policies/{id}", ann.pid);
        let patched = api
            .assert_unchanged(field, || api.patch(&path, &ann.token, body.clone()))
            .await;
        assert_eq!(
            patched.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            patched.text
        );
        assert_eq!(patched.json["field"], json!(field));
    }
    for body in [
        json!({"name": "x"}),
        json!({"name": "p", "targets": [], "permissions": [], "priority": 1}),
    ] {
        let reply = api
            .assert_writes_nothing("shape", || policy(&api, &ann, body.clone()))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
    }
    assert_eq!(
        policy_state(&api, &ann.pid).await,
        before,
        "no policy, no version"
    );
}

async fn the_catalogue_defaults_and_keeps_what_policies_use(api: Api) {
    let ann = api.account("ann@example.com").await;
    let path = format!("/v1/profiles/{}/resource-types", ann.pid);
    let put = |body: Value| api.call(Method::PUT, &path, Some(&ann.token), Some(body));
    let default = api.get(&path, &ann.token).await;
    assert_eq!(default.status, StatusCode::OK);
    assert_eq!(
        default.json,
        json!({"analysis": ["run"], "dashboard": ["access", "edit"],
               "device": ["access", "edit", "delete"], "file": ["read", "write", "delete"]})
    );
    let id = saved(
        &api,
        &ann,
        json!({"name": "Robots", "targets": [{"any_run_user": true}], "permissions": [
            {"effect": "allow", "actions": ["edit"], "resources": [{"type": "device"}]}]}),
    )
    .await;
    let version = policy_state(&api, &ann.pid).await.1;
    let removed = api
        .assert_unchanged("remove a type", || put(json!({"file": ["read"]})))
        .await;
    assert_eq!(removed.status, StatusCode::CONFLICT, "{}", removed.text);
    let detail = removed.json["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains(&id) && detail.contains("Robots") && detail.contains("device"),
        "{detail}"
    );
    let action = api
        .assert_unchanged("remove an action", || put(json!({"device": ["access"]})))
        .await;
    assert_eq!(action.status, StatusCode::CONFLICT, "{}", action.text);
    assert!(action.json["detail"].as_str().unwrap_or("").contains(&id));
    for (body, field) in [
        (json!({"Device": ["edit"]}), "Device"),
        (json!({"device": []}), "device"),
        (json!({"device": ["edit", "edit"]}), "device[1]"),
    ] {
        let reply = api.assert_writes_nothing(field, || put(body.clone())).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        assert_eq!(reply.json["field"], json!(field));
    }
    let replaced = put(json!({"device": ["edit", "reboot"], "robot": ["walk"]})).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    assert_eq!(api.get(&path, &ann.token).await.json, replaced.json);
    assert_ne!(
        policy_state(&api, &ann.pid).await.1,
        version,
        "a new version"
    );
    let walk = allow(
        json!([{"any_run_user": true}]),
        &["walk"],
        json!([{"type": "robot"}]),
    );
    saved(&api, &ann, walk).await;
    let old = allow(
        json!([{"any_run_user": true}]),
        &["access"],
        json!([{"type": "device"}]),
    );
    let refused = policy(&api, &ann, old).await;
    assert_eq!(
        refused.json["field"], "permissions[0].actions[0]",
        "{}",
        refused.text
    );
    // Once no policy uses it, a type can go.
    let deleted = api
        .delete(
            &format!("/v1/profiles/{}/policies/{id}", ann.pid),
            &ann.token,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        put(json!({"robot": ["walk", "run"]})).await.status,
        StatusCode::OK
    );
}

async fn revisions_guard_against_lost_updates(api: Api) {
    let ann = api.account("ann@example.com").await;
    let created = policy(
        &api,
        &ann,
        allow(
            json!([{"any_run_user": true}]),
            &["run"],
            json!([{"type": "analysis"}]),
        ),
    )
    .await;
    assert_eq!(created.json["revision"], 0);
    let path = format!("/v1/profiles/{}/policies/{}", ann.pid, created.str("id"));
    let first = api
        .patch(&path, &ann.token, json!({"name": "one", "revision": 0}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["revision"], 1);
    let lost = api
        .assert_unchanged("stale", || {
            api.patch(&path, &ann.token, json!({"name": "two", "revision": 0}))
        })
        .await;
    assert_eq!(lost.status, StatusCode::CONFLICT, "{}", lost.text);
    let stale = api
        .call(
            Method::DELETE,
            &format!("{path}?revision=0"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let listed = api
        .get(&format!("/v1/profiles/{}/policies", ann.pid), &ann.token)
        .await;
    assert_eq!(listed.json["policies"][0]["name"], "one");
    let gone = api
        .call(
            Method::DELETE,
            &format!("{path}?revision=1"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get(&path, &ann.token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn the_gauge_holds_under_concurrent_creates(api: Api) {
    let ann = api.account("ann@example.com").await;
    let limits = api
        .call(
            Method::PUT,
            &format!("/v1/profiles/{}/limits", ann.pid),
            Some(&ann.token),
            Some(json!({"policies": 5})),
        )
        .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    let body = allow(
        json!([{"any_run_user": true}]),
        &["run"],
        json!([{"type": "analysis"}]),
    );
    saved(&api, &ann, body.clone()).await;
    let api = Arc::new(api);
    let mut racers = JoinSet::new();
    for _ in 0..4 + 20 {
        let (api, ann, body) = (api.clone(), ann.clone(), body.clone());
        racers.spawn(async move { policy(&api, &ann, body).await });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(reply) = racers.join_next().await {
        let reply = reply.expect("a racer");
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.problem(), "limit-reached", "{}", reply.text);
                assert_eq!(reply.json["service"], "policies");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!((created, refused), (4, 20), "exactly the free places");
    assert_eq!(policy_state(&api, &ann.pid).await.0, 5);
    let usage = api
        .get(&format!("/v1/profiles/{}/usage", ann.pid), &ann.token)
        .await;
    assert_eq!(
        usage.json["services"]["policies"],
        json!({"used": 5, "limit": 5, "metering": "gauge"})
    );
    let listed = api
        .get(&format!("/v1/profiles/{}/policies", ann.pid), &ann.token)
        .await;
    let first = listed.json["policies"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let deleted = api
        .delete(
            &format!("/v1/profiles/{}/policies/{first}", ann.pid),
            &ann.token,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        policy(&api, &ann, body).await.status,
        StatusCode::CREATED,
        "a freed place"
    );
}
