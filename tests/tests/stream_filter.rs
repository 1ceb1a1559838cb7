//! The stream mapping's event filter (`FilterCriteria` of the notifications function in
//! `infra/template.yaml`) and the handler (`shared::notify::acts_on`, on which `handle`
//! dispatches) agree.
//!
//! For every item of the key design (`shared::keys`) and every way it reaches the stream
//! (inserted, modified, removed by a request, removed by TTL) the test builds the record Lambda
//! filters (the DynamoDB Streams record of a Lambda event), matches it against the template's
//! patterns with the subset of Lambda's filter rules they use, and converts it with the adapter
//! the function runs (`shared::stream::stream_event`) for `acts_on`:
//! - every record the handler acts on passes the filter (else its e-mail is never sent);
//! - every record it ignores is filtered out, but for the few listed in `KNOWN_TO_PASS`, which
//!   the patterns cannot tell apart from records they must pass (docs/DECISIONS.md,
//!   "Operations"). The list is exact: an entry that no longer passes fails the test too.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value, json};
use shared::email::Email;
use shared::keys;
use shared::notify::{Kind, acts_on};
use shared::store::Key;
use uuid::Uuid;

/// Records that pass the filter although the handler ignores them: (item, operation).
const KNOWN_TO_PASS: &[(&str, Op)] = &[
    // `SK = PROFILE` is passed for modifications (gauge alerts); a pattern cannot pass only
    // those of one SK value and every write of the others without a filter of its own.
    ("profile", Op::Insert),
    // `USAGE#<month>#LEVELS` starts like the counters `USAGE#<month>`; Lambda's patterns have
    // no "prefix but not suffix".
    ("usage gauge levels", Op::Insert),
    ("usage gauge levels", Op::Modify),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Insert,
    Modify,
    /// Deleted by a request.
    Remove,
    /// Deleted by DynamoDB's TTL (user identity: the DynamoDB service).
    Expire,
}

const OPS: [Op; 4] = [Op::Insert, Op::Modify, Op::Remove, Op::Expire];

/// One item of the key design: a name, its key, and the attributes its images carry beyond the
/// key (only what a pattern or the handler's classification may look at).
struct Sample {
    name: String,
    key: Key,
    attrs: Map<String, Value>,
}

fn sample(name: &str, key: Key) -> Sample {
    Sample {
        name: name.to_owned(),
        key,
        attrs: Map::new(),
    }
}

/// Every item of the key design, each token kind on its own (they share one key shape).
fn samples() -> Vec<Sample> {
    let (aid, pid, uid, iid, rid) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let email = Email::parse("ann@tenantry.dev").expect("an e-mail");
    let mut all = vec![
        sample("account", keys::account(aid)),
        sample("e-mail claim", keys::email_claim(&email)),
        sample("membership (account side)", keys::account_member(aid, pid)),
        sample("profile", keys::profile(pid)),
        sample("membership (profile side)", keys::profile_member(pid, aid)),
        sample("password-reset request", keys::reset_request(aid, rid)),
        sample("reset rate counter", keys::reset_rate(aid, "2025-01-01T10")),
        sample(
            "verification rate counter",
            keys::verification_rate(aid, "2025-01-01T10"),
        ),
        sample(
            "login throttle (e-mail)",
            keys::login_throttle_email(&email, 1_700_000_000),
        ),
        sample(
            "login throttle (unparsed)",
            keys::login_throttle_unparsed("ab12", 1_700_000_000),
        ),
        sample(
            "login throttle (address)",
            keys::login_throttle_address("203.0.113.9", 1_700_000_000),
        ),
        sample("invitation", keys::invitation(pid, iid)),
        sample(
            "pending invitation marker",
            keys::pending_invitation(pid, &email),
        ),
        sample(
            "invitation rate (profile)",
            keys::invitation_rate(pid, "2025-01-01T10"),
        ),
        sample(
            "invitation rate (account)",
            keys::account_invitation_rate(aid, "2025-01-01"),
        ),
        sample("cursor secret", keys::cursor_key()),
        sample("pending purge", keys::pending_purge(pid)),
        sample("sent-marker", keys::notification_marker("event-1")),
        sample("usage counters", keys::usage(pid, "2025-01")),
        sample("usage gauge levels", keys::usage_levels(pid, "2025-01")),
        sample("run user", keys::run_user(pid, uid)),
        sample("run-user e-mail claim", keys::run_email_claim(pid, &email)),
        sample("run-user name entry", keys::run_name_entry(pid, "ann", uid)),
        sample(
            "run-user tag entry",
            keys::run_tag_entry(pid, "plan", "gold", uid),
        ),
        sample("run-user tag keys", keys::run_tag_keys(pid)),
        sample("run settings", keys::run_settings(pid)),
        sample("run-user reset request", keys::run_reset_request(pid, rid)),
        sample(
            "run-user reset rate counter",
            keys::run_reset_rate(pid, uid, "2025-01-01T10"),
        ),
        sample(
            "run-user login throttle",
            keys::run_login_throttle(pid, "ann@tenantry.dev", 1_700_000_000),
        ),
        sample("policy", keys::policy(pid, rid)),
        sample("resource catalogue", keys::resource_types(pid)),
    ];
    // A token item's `kind` is serde's tag of `TokenRecord`.
    for kind in [
        "session",
        "profile",
        "invitation",
        "verification",
        "reset",
        "run_session",
        "run_reset",
    ] {
        let mut token = sample(
            &format!("token ({kind})"),
            keys::token(&format!("{kind}-digest")),
        );
        token.attrs.insert("kind".into(), json!({"S": kind}));
        token.attrs.insert("ttl".into(), json!({"N": "1700000000"}));
        all.push(token);
    }
    all
}

fn image(sample: &Sample) -> Value {
    let mut item = sample.attrs.clone();
    item.insert("PK".into(), json!({"S": sample.key.pk}));
    item.insert("SK".into(), json!({"S": sample.key.sk}));
    Value::Object(item)
}

/// The record as Lambda filters it (and delivers it) for a DynamoDB stream.
fn record(sample: &Sample, op: Op, seq: usize) -> Value {
    let event_name = match op {
        Op::Insert => "INSERT",
        Op::Modify => "MODIFY",
        Op::Remove | Op::Expire => "REMOVE",
    };
    let mut change = json!({
        "Keys": {"PK": {"S": sample.key.pk}, "SK": {"S": sample.key.sk}},
        "SequenceNumber": seq.to_string(),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if op != Op::Insert {
        change["OldImage"] = image(sample);
    }
    if matches!(op, Op::Insert | Op::Modify) {
        change["NewImage"] = image(sample);
    }
    let mut record = json!({
        "eventID": format!("event-{seq}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2025-01-01T00:00:00.000",
    });
    if op == Op::Expire {
        record["userIdentity"] =
            json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    }
    record
}

/// What the handler does with `record`, through the adapter the function runs.
fn classify(record: &Value) -> Option<Kind> {
    let parsed: aws_lambda_events::event::dynamodb::EventRecord =
        serde_json::from_value(record.clone()).expect("a DynamoDB stream record");
    let event = shared::stream::stream_event(parsed).expect("a readable record");
    acts_on(&event.change)
}

// Lambda's event filtering, the subset the template uses: a pattern is an object; its fields
// all match (and); a field's array matches when any element does (or); an element is an exact
// string, number or boolean, `{"prefix": "..."}` or `{"exists": bool}`; a nested object
// matches the record's object at that field. Anything else fails the test, so a new operator in
// the template is noticed here.

fn matches(pattern: &Value, record: &Value) -> bool {
    let Value::Object(fields) = pattern else {
        panic!("a filter pattern (or a nested one) must be an object: {pattern}");
    };
    fields.iter().all(|(field, rule)| {
        let value = record.get(field);
        match rule {
            // A missing object is an empty one: only `exists: false` matches inside it.
            Value::Object(_) => match value {
                Some(v) => v.is_object() && matches(rule, v),
                None => matches(rule, &json!({})),
            },
            Value::Array(alternatives) => alternatives.iter().any(|alt| matches_one(alt, value)),
            other => panic!("pattern field {field}: {other} is neither an object nor an array"),
        }
    })
}

fn matches_one(rule: &Value, value: Option<&Value>) -> bool {
    match rule {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => value == Some(rule),
        Value::Object(op) if op.len() == 1 => {
            let (name, arg) = op.iter().next().expect("one operator");
            match (name.as_str(), arg) {
                ("prefix", Value::String(prefix)) => value
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.starts_with(prefix.as_str())),
                ("exists", Value::Bool(exists)) => value.is_some() == *exists,
                _ => panic!("filter operator {name}: {arg} is not implemented by this test"),
            }
        }
        other => panic!("filter value {other} is not implemented by this test"),
    }
}

/// The patterns of the notifications function's DynamoDB event.
fn template_patterns() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let template: serde_norway::Value =
        serde_norway::from_str(&text).expect("the template parses as YAML");
    let filters = template["Resources"]["NotificationsFunction"]["Properties"]["Events"]
        ["TableStream"]["Properties"]["FilterCriteria"]["Filters"]
        .as_sequence()
        .expect("NotificationsFunction.Events.TableStream has FilterCriteria.Filters");
    assert!(
        (1..=5).contains(&filters.len()),
        "Lambda takes at most 5 filters per mapping (by default); the template has {}",
        filters.len()
    );
    filters
        .iter()
        .map(|f| {
            let text = f["Pattern"]
                .as_str()
                .expect("a filter's Pattern is a string");
            serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("filter pattern is not JSON ({e}): {text}"))
        })
        .collect()
}

fn passes(patterns: &[Value], record: &Value) -> bool {
    patterns.iter().any(|p| matches(p, record))
}

#[test]
fn the_stream_filter_passes_what_the_handler_acts_on_and_little_else() {
    let patterns = template_patterns();
    let mut lost = Vec::new(); // acted on, filtered out
    let mut passed_ignored = BTreeSet::new(); // ignored, passed
    let mut kinds_seen = BTreeSet::new();
    let mut seq = 0;
    for sample in samples() {
        for op in OPS {
            seq += 1;
            let record = record(&sample, op, seq);
            let kind = classify(&record);
            let passes = passes(&patterns, &record);
            match kind {
                Some(kind) => {
                    kinds_seen.insert(format!("{kind:?}"));
                    if !passes {
                        lost.push(format!("{} {op:?} ({kind:?})", sample.name));
                    }
                }
                None if passes => {
                    passed_ignored.insert((sample.name.clone(), op));
                }
                None => {}
            }
        }
    }
    assert!(
        lost.is_empty(),
        "the filter drops records the handler acts on:\n  {}",
        lost.join("\n  ")
    );
    let known: BTreeSet<(String, Op)> = KNOWN_TO_PASS
        .iter()
        .map(|(name, op)| ((*name).to_owned(), *op))
        .collect();
    let unexpected: Vec<_> = passed_ignored.difference(&known).collect();
    assert!(
        unexpected.is_empty(),
        "the filter passes records the handler ignores (tighten the patterns, or list them in \
         KNOWN_TO_PASS and docs/DECISIONS.md): {unexpected:?}"
    );
    let stale: Vec<_> = known.difference(&passed_ignored).collect();
    assert!(
        stale.is_empty(),
        "KNOWN_TO_PASS lists records the filter drops now (remove them): {stale:?}"
    );
    // Every branch of the handler is reached by some item, so none is left untested.
    let all = [
        Kind::TokenExpired,
        Kind::Account,
        Kind::ResetRequest,
        Kind::RunResetRequest,
        Kind::Invitation,
        Kind::PendingPurge,
        Kind::ProfileGauges,
        Kind::UsageCounters,
    ];
    for kind in all {
        assert!(
            kinds_seen.contains(&format!("{kind:?}")),
            "no sample item reaches {kind:?}"
        );
    }
}

#[test]
fn the_filter_rules_behave_as_lambdas() {
    let pattern = json!({
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"Keys": {"SK": {"S": ["ACCOUNT", {"prefix": "INVITE#"}]}}},
        "userIdentity": {"type": [{"exists": false}]},
    });
    let record =
        |name: &str, sk: &str| json!({"eventName": name, "dynamodb": {"Keys": {"SK": {"S": sk}}}});
    assert!(matches(&pattern, &record("INSERT", "ACCOUNT")));
    assert!(matches(&pattern, &record("MODIFY", "INVITE#1")));
    assert!(!matches(&pattern, &record("REMOVE", "ACCOUNT")));
    assert!(!matches(&pattern, &record("INSERT", "ACCOUNTS")));
    assert!(!matches(&pattern, &record("INSERT", "X#INVITE#1")));
    let mut expired = record("INSERT", "ACCOUNT");
    expired["userIdentity"] = json!({"type": "Service"});
    assert!(!matches(&pattern, &expired));
    // A field the record lacks matches nothing but `exists: false`.
    assert!(!matches(
        &json!({"dynamodb": {"OldImage": {"kind": {"S": ["profile"]}}}}),
        &record("INSERT", "ACCOUNT")
    ));
}

#[test]
fn the_handler_acts_on_an_expired_api_token_only_through_the_filter_s_identity() {
    // The TTL branch hangs on the user identity: the same removal by a request (a revocation,
    // which lowers the gauge itself) is ignored by both.
    let patterns = template_patterns();
    let token = samples()
        .into_iter()
        .find(|s| s.name == "token (profile)")
        .expect("the API token sample");
    let expired = record(&token, Op::Expire, 1);
    let revoked = record(&token, Op::Remove, 2);
    assert_eq!(classify(&expired), Some(Kind::TokenExpired));
    assert!(passes(&patterns, &expired));
    assert_eq!(classify(&revoked), None);
    assert!(!passes(&patterns, &revoked));
}
