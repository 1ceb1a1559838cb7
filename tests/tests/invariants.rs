//! The invariant checker (`shared::check`, issue 13), on both adapters: a realistic state made
//! through the HTTP routes checks clean, and every rule fails on the one item planted to break
//! it (and only there), through the raw table port.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::check::{Report, Rule, check_table};
use shared::email::Email;
use shared::keys;
use shared::store::{Item, Key, Table};
use tenantry_tests::api::{Account, Api, PASSWORD};
use uuid::Uuid;

tenantry_tests::on_both_adapters!(
    a_state_made_through_the_routes_checks_clean,
    each_rule_reports_exactly_the_item_planted_to_break_it,
);

fn uuid(text: &str) -> Uuid {
    text.parse().expect("an id")
}

fn spelled(key: &Key) -> String {
    format!("{} | {}", key.pk, key.sk)
}

fn tags(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect()
}

/// What the realistic state is made of (ids the planting test needs).
struct State {
    ann: Account,
    bob: Account,
    /// A run user tagged `team: eng`, `level: 3` (the only one with `level`).
    eng: Uuid,
}

async fn created(api: &Api, path: &str, token: &str, body: Value) -> String {
    let reply = api.post(path, Some(token), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.text);
    reply.str("id")
}

async fn ok(api: &Api, method: Method, path: &str, token: &str, body: Option<Value>) {
    let reply = api.call(method.clone(), path, Some(token), body).await;
    assert!(
        reply.status.is_success(),
        "{method} {path}: {} {}",
        reply.status,
        reply.text
    );
}

async fn joined(api: &Api, pid: &str, by: &Account, who: &Account, role: &str) {
    let iid = created(
        api,
        &format!("/v1/profiles/{pid}/team"),
        &by.token,
        json!({"email": who.email, "role": role}),
    )
    .await;
    let accept = format!("/v1/invitations/{iid}/accept");
    ok(api, Method::POST, &accept, &who.token, None).await;
}

async fn token(api: &Api, pid: &str, by: &Account) -> String {
    created(
        api,
        &format!("/v1/profiles/{pid}/tokens"),
        &by.token,
        json!({"name": "ci", "permission": "read", "expires_in": "1 day", "password": PASSWORD}),
    )
    .await
}

async fn run_user(api: &Api, pid: &str, by: &Account, pairs: &[(&str, &str)]) -> String {
    created(
        api,
        &format!("/v1/profiles/{pid}/run/users"),
        &by.token,
        json!({"email": format!("run-{}@example.com", Uuid::now_v7().simple()),
               "name": "Rita", "tags": tags(pairs)}),
    )
    .await
}

/// Accounts, profiles, a team (invitations accepted, a member who left with a token), tokens
/// (one revoked), run users with tags (changed, one deleted), a catalogue and policies (changed,
/// one deleted), metered requests, limits raised and lowered below use, a deleted profile and a
/// deleted account. All through the routes.
async fn realistic(api: &Api) -> State {
    let ann = api.account("ann@example.com").await;
    let bob = api.account("bob@example.com").await;
    let carol = api.account("carol@example.com").await;
    let dave = api.account("dave@example.com").await;
    let pid = ann.pid.clone();
    let profile = format!("/v1/profiles/{pid}");

    // The team: bob stays as admin; carol joins, makes a token and leaves (it goes with her).
    joined(api, &pid, &ann, &bob, "admin").await;
    joined(api, &pid, &ann, &carol, "member").await;
    token(api, &pid, &carol).await;
    let leave = format!("{profile}/team/{}", carol.aid);
    ok(api, Method::DELETE, &leave, &carol.token, None).await;

    // Tokens: two of ann's, one of bob's, one revoked.
    token(api, &pid, &ann).await;
    token(api, &pid, &bob).await;
    let revoked = token(api, &pid, &ann).await;
    let revoke = format!("{profile}/tokens/{revoked}");
    ok(api, Method::DELETE, &revoke, &ann.token, None).await;

    // Run users with tags, one changed, one deleted.
    let users = format!("{profile}/run/users");
    let eng = run_user(api, &pid, &ann, &[("team", "eng"), ("level", "3")]).await;
    run_user(api, &pid, &bob, &[("team", "ops")]).await;
    let changed = run_user(api, &pid, &ann, &[]).await;
    let change = json!({"name": "Ruth", "tags": tags(&[("team", "eng")])});
    ok(
        api,
        Method::PATCH,
        &format!("{users}/{changed}"),
        &ann.token,
        Some(change),
    )
    .await;
    let gone = run_user(api, &pid, &ann, &[("team", "ops")]).await;
    ok(
        api,
        Method::DELETE,
        &format!("{users}/{gone}"),
        &ann.token,
        None,
    )
    .await;

    // A catalogue and policies: one changed, one deleted.
    let catalogue = json!({"device": ["access", "edit"], "file": ["read", "write"]});
    let types = format!("{profile}/resource-types");
    ok(api, Method::PUT, &types, &ann.token, Some(catalogue)).await;
    let policy = |name: &str| {
        json!({"name": name, "targets": [{"tag": {"key": "team", "value": "eng"}}],
               "permissions": [{"effect": "allow", "actions": ["access"],
                                "resources": [{"type": "device"}]}]})
    };
    let policies = format!("{profile}/policies");
    let kept = created(api, &policies, &ann.token, policy("Engineers")).await;
    let dropped = created(api, &policies, &bob.token, policy("Temporary")).await;
    let patch = format!("{policies}/{kept}");
    ok(
        api,
        Method::PATCH,
        &patch,
        &ann.token,
        Some(json!({"active": false})),
    )
    .await;
    let drop = format!("{policies}/{dropped}");
    ok(api, Method::DELETE, &drop, &ann.token, None).await;

    // Metered requests (application routes count `api_requests`).
    for _ in 0..3 {
        let listed = api.get(&users, &bob.token).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    }

    // Limits: raised on the first profile; lowered below use on a second (a notice, legal).
    let limits = format!("{profile}/limits");
    ok(
        api,
        Method::PUT,
        &limits,
        &ann.token,
        Some(json!({"tokens": 12})),
    )
    .await;
    let second = created(api, "/v1/profiles", &ann.token, json!({"name": "Second"})).await;
    token(api, &second, &ann).await;
    token(api, &second, &ann).await;
    let lowered = json!({"tokens": 1});
    let second_limits = format!("/v1/profiles/{second}/limits");
    ok(api, Method::PUT, &second_limits, &ann.token, Some(lowered)).await;

    // A deleted profile, with a member, a token and a run user.
    let third = created(api, "/v1/profiles", &bob.token, json!({"name": "Third"})).await;
    joined(api, &third, &bob, &ann, "member").await;
    token(api, &third, &bob).await;
    run_user(api, &third, &bob, &[("team", "eng")]).await;
    let password = json!({"password": PASSWORD});
    let third_path = format!("/v1/profiles/{third}");
    ok(
        api,
        Method::DELETE,
        &third_path,
        &bob.token,
        Some(password.clone()),
    )
    .await;
    // What was under it goes when its pending purge comes through the stream.
    let purged = shared::domain::profiles::finish_pending_purges(&api.app)
        .await
        .expect("the purge");
    assert_eq!(purged, 1);

    // A deleted account that owned a profile with a run user and belonged to ann's.
    joined(api, &pid, &ann, &dave, "member").await;
    token(api, &pid, &dave).await;
    run_user(api, &dave.pid, &dave, &[("team", "eng")]).await;
    ok(
        api,
        Method::DELETE,
        "/v1/account",
        &dave.token,
        Some(password),
    )
    .await;

    State {
        ann,
        bob,
        eng: uuid(&eng),
    }
}

async fn check(api: &Api) -> Report {
    check_table(api.app.table.as_ref()).await.expect("a check")
}

async fn a_state_made_through_the_routes_checks_clean(api: Api) {
    realistic(&api).await;
    let report = check(&api).await;
    assert!(report.is_clean(), "{report:#?}");
    assert!(report.items_read > 30, "{}", report.items_read);
    // Every rule looked at something (a rule that sees nothing proves nothing).
    for rule in [
        Rule::Unreadable,
        Rule::GaugeCount,
        Rule::AccountEmailClaim,
        Rule::RunUserEmailClaim,
        Rule::RunUserEntryMissing,
        Rule::RunUserEntryStale,
        Rule::TagKeyRegistry,
        Rule::Membership,
        Rule::ProfileOwner,
        Rule::MemberAccount,
        Rule::Orphan,
        Rule::MonthlyLimit,
        Rule::Allocation,
        Rule::PolicyVersion,
    ] {
        assert!(
            report.checked.get(&rule).copied().unwrap_or(0) > 0,
            "{rule:?} checked nothing: {:?}",
            report.checked
        );
    }
    // The second profile's tokens gauge is above the limit lowered below it: a notice only.
    assert_eq!(report.notices.len(), 1, "{:?}", report.notices);
    assert_eq!(report.notices[0].rule, Rule::GaugeAboveLimit);
    assert!(report.notices[0].detail.starts_with("tokens:"));
}

/// A raw change of the table, to plant a violation.
enum Raw {
    Put(Item),
    Delete(Key),
}

/// One violation to plant: the raw changes, and the one rule and key the checker must report.
struct Plant {
    what: &'static str,
    changes: Vec<Raw>,
    rule: Rule,
    at: Key,
}

async fn item(table: &dyn Table, key: &Key) -> Item {
    table
        .get(key)
        .await
        .expect("a read")
        .unwrap_or_else(|| panic!("no item at {key:?}"))
}

/// `key`'s item with `changes` applied (each attribute set; `null` removes it).
async fn edited(table: &dyn Table, key: &Key, changes: Value) -> Raw {
    let mut item = item(table, key).await;
    for (name, value) in changes.as_object().expect("an object") {
        if value.is_null() {
            item.remove(name);
        } else {
            item.insert(name.clone(), value.clone());
        }
    }
    Raw::Put(item)
}

fn new_item(key: &Key, attributes: Value) -> Raw {
    Raw::Put(keys::to_item(key, &attributes).expect("an item"))
}

/// Applies `plant`, checks, then puts every item back as it was.
async fn planted(api: &Api, plant: Plant) -> Report {
    let table = api.app.table.as_ref();
    let mut before = Vec::new();
    for change in &plant.changes {
        let key = match change {
            Raw::Put(item) => Key::of(item).expect("a key"),
            Raw::Delete(key) => key.clone(),
        };
        before.push((key.clone(), table.get(&key).await.expect("a read")));
        match change {
            Raw::Put(item) => table.put(item.clone(), None).await.expect("a put"),
            Raw::Delete(key) => {
                table.delete(key, None).await.expect("a delete");
            }
        }
    }
    let report = check(api).await;
    for (key, old) in before.into_iter().rev() {
        match old {
            Some(old) => table.put(old, None).await.expect("restored"),
            None => {
                table.delete(&key, None).await.expect("removed");
            }
        }
    }
    report
}

async fn each_rule_reports_exactly_the_item_planted_to_break_it(api: Api) {
    let State { ann, bob, eng } = realistic(&api).await;
    let table = api.app.table.as_ref();
    let (pid, ann_id, bob_id) = (uuid(&ann.pid), uuid(&ann.aid), uuid(&bob.aid));
    let profile = keys::profile(pid);
    let eng_user: shared::domain::records::RunUserRecord =
        keys::from_item(item(table, &keys::run_user(pid, eng)).await).expect("a run user");
    let month = shared::domain::usage::month_of(api.app.now());
    let usage = keys::usage(pid, &month);
    let used = item(table, &usage).await["api_requests"]
        .as_i64()
        .expect("counted requests");
    let ghost = Uuid::now_v7();
    let gauge = |name: &str| {
        let name = name.to_owned();
        async move {
            item(table, &keys::profile(pid)).await[&name]
                .as_i64()
                .unwrap_or(0)
        }
    };
    let (run_users, tokens, members) = (
        gauge("used_run_users").await,
        gauge("used_tokens").await,
        gauge("used_team_members").await,
    );

    let plants = vec![
        Plant {
            what: "a policy that does not read",
            changes: vec![new_item(&keys::policy(pid, ghost), json!({"name": 5}))],
            rule: Rule::Unreadable,
            at: keys::policy(pid, ghost),
        },
        Plant {
            what: "a run-user gauge one too high",
            changes: vec![edited(table, &profile, json!({"used_run_users": run_users + 1})).await],
            rule: Rule::GaugeCount,
            at: profile.clone(),
        },
        Plant {
            what: "a tokens gauge one too low",
            changes: vec![edited(table, &profile, json!({"used_tokens": tokens - 1})).await],
            rule: Rule::GaugeCount,
            at: profile.clone(),
        },
        Plant {
            what: "an account without its e-mail claim",
            changes: vec![Raw::Delete(keys::email_claim(
                &Email::parse(&bob.email).expect("an e-mail"),
            ))],
            rule: Rule::AccountEmailClaim,
            at: keys::account(bob_id),
        },
        Plant {
            what: "an e-mail claim holding another password hash than its account's",
            changes: vec![
                edited(
                    table,
                    &keys::email_claim(&Email::parse(&bob.email).expect("an e-mail")),
                    json!({"password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}),
                )
                .await,
            ],
            rule: Rule::AccountEmailClaim,
            at: keys::email_claim(&Email::parse(&bob.email).expect("an e-mail")),
        },
        Plant {
            what: "an e-mail claim of an account that is gone",
            changes: vec![new_item(
                &keys::email_claim(&Email::parse("ghost@example.com").expect("an e-mail")),
                json!({"aid": ghost}),
            )],
            rule: Rule::AccountEmailClaim,
            at: keys::email_claim(&Email::parse("ghost@example.com").expect("an e-mail")),
        },
        Plant {
            what: "a run user without its e-mail claim",
            changes: vec![Raw::Delete(keys::run_email_claim(pid, &eng_user.email))],
            rule: Rule::RunUserEmailClaim,
            at: keys::run_user(pid, eng),
        },
        Plant {
            what: "a run user without its tag entry",
            changes: vec![Raw::Delete(keys::run_tag_entry(pid, "level", "3", eng))],
            rule: Rule::RunUserEntryMissing,
            at: keys::run_user(pid, eng),
        },
        Plant {
            what: "a tag entry of a tag the user does not carry",
            changes: vec![new_item(
                &keys::run_tag_entry(pid, "team", "ops", eng),
                json!({"uid": eng}),
            )],
            rule: Rule::RunUserEntryStale,
            at: keys::run_tag_entry(pid, "team", "ops", eng),
        },
        Plant {
            what: "a tag key missing from the registry",
            changes: vec![
                edited(table, &keys::run_tag_keys(pid), json!({"key:level": null})).await,
            ],
            rule: Rule::TagKeyRegistry,
            at: keys::run_user(pid, eng),
        },
        Plant {
            what: "the two sides of a membership with different roles",
            changes: vec![
                edited(
                    table,
                    &keys::account_member(bob_id, pid),
                    json!({"role": "member"}),
                )
                .await,
            ],
            rule: Rule::Membership,
            at: keys::profile_member(pid, bob_id),
        },
        Plant {
            what: "a membership without its profile side (uncounted, so only that rule fails)",
            changes: vec![
                Raw::Delete(keys::profile_member(pid, bob_id)),
                edited(table, &profile, json!({"used_team_members": members - 1})).await,
            ],
            rule: Rule::Membership,
            at: keys::account_member(bob_id, pid),
        },
        Plant {
            what: "a second owner (both sides, so only the owner rule fails)",
            changes: vec![
                edited(
                    table,
                    &keys::profile_member(pid, bob_id),
                    json!({"role": "owner"}),
                )
                .await,
                edited(
                    table,
                    &keys::account_member(bob_id, pid),
                    json!({"role": "owner"}),
                )
                .await,
            ],
            rule: Rule::ProfileOwner,
            at: profile.clone(),
        },
        Plant {
            what: "a member whose account is gone (counted, so only that rule fails)",
            changes: vec![
                new_item(
                    &keys::profile_member(pid, ghost),
                    json!({"pid": pid, "aid": ghost, "role": "member", "email": "ghost@example.com",
                           "name": "Ghost", "joined_at": "2026-01-01T00:00:00Z"}),
                ),
                edited(table, &profile, json!({"used_team_members": members + 1})).await,
            ],
            rule: Rule::MemberAccount,
            at: keys::profile_member(pid, ghost),
        },
        Plant {
            what: "an item left in the partition of a profile that is gone",
            changes: vec![new_item(
                &keys::usage(ghost, &month),
                json!({"month": month}),
            )],
            rule: Rule::Orphan,
            at: keys::usage(ghost, &month),
        },
        Plant {
            what: "an account-side membership of a profile that is gone",
            changes: vec![new_item(
                &keys::account_member(ann_id, ghost),
                json!({"pid": ghost, "aid": ann_id, "role": "owner", "profile_name": "Gone",
                       "joined_at": "2026-01-01T00:00:00Z"}),
            )],
            rule: Rule::Orphan,
            at: keys::account_member(ann_id, ghost),
        },
        Plant {
            what: "a monthly counter above the limit it was counted against",
            changes: vec![edited(table, &usage, json!({"limit_api_requests": used - 1})).await],
            rule: Rule::MonthlyLimit,
            at: usage.clone(),
        },
        Plant {
            what: "allocated totals that are not the profiles' limits",
            changes: vec![
                edited(table, &keys::account(ann_id), json!({"alloc_policies": 1})).await,
            ],
            rule: Rule::Allocation,
            at: keys::account(ann_id),
        },
        Plant {
            what: "a pending purge of a profile that exists",
            changes: vec![new_item(
                &keys::pending_purge(pid),
                json!({"pid": pid, "since": "2026-01-01T00:00:00Z"}),
            )],
            rule: Rule::Orphan,
            at: keys::pending_purge(pid),
        },
        Plant {
            what: "a policy-set version below the writes it counts",
            changes: vec![edited(table, &profile, json!({"policy_version": 1})).await],
            rule: Rule::PolicyVersion,
            at: profile.clone(),
        },
    ];
    let mut rules = std::collections::BTreeSet::new();
    for plant in plants {
        let (what, rule, at) = (plant.what, plant.rule, spelled(&plant.at));
        let report = planted(&api, plant).await;
        assert!(!report.violations.is_empty(), "{what}: not found");
        for violation in &report.violations {
            assert_eq!(
                (violation.rule, violation.key.as_str()),
                (rule, at.as_str()),
                "{what}: {:#?}",
                report.violations
            );
        }
        rules.insert(rule);
        // Put back as it was: clean again.
        let again = check(&api).await;
        assert!(again.is_clean(), "after {what}: {:#?}", again.violations);
    }
    assert_eq!(rules.len(), 14, "every rule planted once: {rules:?}");
}
