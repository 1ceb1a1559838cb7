//! The policy engine (`shared::domain::policies`): the compiled check and the per-user
//! explanation agree with the plain reference evaluator (`tenantry_tests::policy_reference`) on
//! random catalogues, policy sets, subjects and requests; examples pin down each rule; and each
//! form of policy that could never match is refused at its exact path.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::json;
use shared::domain::policies::validate::{types_in_use, validate, validate_catalogue};
use shared::domain::policies::{
    Catalogue, Compiled, Decision, DecisionEffect, Effect, Permission, PolicyBody, ResourceRef,
    Selector, Subject, Target,
};
use shared::domain::records::Tag;
use shared::refusal::Refusal;
use tenantry_tests::policy_reference;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Random inputs, from small alphabets so that matches are frequent.

const TYPES: [&str; 3] = ["device", "file", "doc"];
const ACTIONS: [&str; 4] = ["read", "edit", "run", "delete"];
const KEYS: [&str; 3] = ["team", "site", "plan"];
const VALUES: [&str; 2] = ["a", "b"];
const IDS: [&str; 2] = ["1", "2"];
const PATHS: [&str; 5] = ["/", "/a", "/a/b", "/ab", "b"];
const PREFIXES: [&str; 4] = ["/", "/a", "/a/", "/ab"];

fn uid(n: u8) -> Uuid {
    Uuid::from_u128(0xA000 + u128::from(n))
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

fn any_tag() -> impl Strategy<Value = Tag> {
    (select(&KEYS[..]), select(&VALUES[..])).prop_map(|(key, value)| tag(key, value))
}

/// A catalogue of one to three of `TYPES`, each with a non-empty subset of `ACTIONS`.
fn catalogue() -> impl Strategy<Value = Catalogue> {
    proptest::collection::btree_map(
        select(&TYPES[..]).prop_map(str::to_owned),
        proptest::sample::subsequence(&ACTIONS[..], 1..=ACTIONS.len())
            .prop_map(|actions| actions.into_iter().map(str::to_owned).collect::<Vec<_>>()),
        1..=TYPES.len(),
    )
    .prop_map(Catalogue::new)
}

/// Mostly the catalogue's names, sometimes any of the alphabet's (unknown to the catalogue).
fn name_from(known: Vec<String>, all: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(known),
        1 => select(all).prop_map(str::to_owned),
    ]
}

fn selector(types: Vec<String>) -> impl Strategy<Value = Selector> {
    let kind = name_from(types, &TYPES);
    let qualifier = prop_oneof![
        2 => Just((None, None, None, None)),
        2 => select(&IDS[..]).prop_map(|id| (Some(id.to_owned()), None, None, None)),
        2 => any_tag().prop_map(|tag| (None, Some(tag), None, None)),
        3 => select(&KEYS[..]).prop_map(|key| (None, None, Some(key.to_owned()), None)),
        2 => select(&PREFIXES[..]).prop_map(|prefix| (None, None, None, Some(prefix.to_owned()))),
        // Never saved (validation refuses two qualifiers), but the engine must still agree.
        1 => (
            proptest::option::of(select(&IDS[..])),
            proptest::option::of(any_tag()),
            proptest::option::of(select(&KEYS[..])),
            proptest::option::of(select(&PREFIXES[..])),
        )
            .prop_map(|(id, tag, key, prefix)| (
                id.map(str::to_owned),
                tag,
                key.map(str::to_owned),
                prefix.map(str::to_owned)
            )),
    ];
    (kind, qualifier).prop_map(|(kind, (id, tag, tag_match, path_prefix))| Selector {
        kind,
        id,
        tag,
        tag_match,
        path_prefix,
    })
}

fn permission(types: Vec<String>, actions: Vec<String>) -> impl Strategy<Value = Permission> {
    (
        prop_oneof![Just(Effect::Allow), Just(Effect::Deny)],
        proptest::collection::vec(name_from(actions, &ACTIONS), 0..=3),
        proptest::collection::vec(selector(types), 0..=3),
    )
        .prop_map(|(effect, actions, resources)| Permission {
            effect,
            actions,
            resources,
        })
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => (0u8..4).prop_map(|n| Target::RunUser(uid(n))),
        3 => any_tag().prop_map(Target::Tag),
        2 => Just(Target::AnyRunUser(true)),
        1 => Just(Target::AnyRunUser(false)),
    ]
}

fn policy(types: Vec<String>, actions: Vec<String>) -> impl Strategy<Value = PolicyBody> {
    (
        select(&["p", "q", "r"][..]),
        prop::bool::weighted(0.8),
        proptest::collection::vec(target(), 0..=3),
        proptest::collection::vec(permission(types, actions), 0..=3),
    )
        .prop_map(|(name, active, targets, permissions)| PolicyBody {
            name: name.to_owned(),
            active,
            targets,
            permissions,
        })
}

/// 0–12 policies with distinct ids in a random order (so "the smallest id" is not "the first").
fn policies(
    types: Vec<String>,
    actions: Vec<String>,
) -> impl Strategy<Value = Vec<(Uuid, PolicyBody)>> {
    proptest::collection::vec((any::<u8>(), policy(types, actions)), 0..=12).prop_map(|drawn| {
        drawn
            .into_iter()
            .enumerate()
            .map(|(i, (order, body))| (Uuid::from_u128(u128::from(order) << 8 | i as u128), body))
            .collect()
    })
}

/// A subject that owns its tags (`Subject` borrows them).
#[derive(Clone, Debug)]
enum Someone {
    RunUser(Uuid, Vec<Tag>, bool),
    Tags(Vec<Tag>),
}

impl Someone {
    fn subject(&self) -> Subject<'_> {
        match self {
            Someone::RunUser(uid, tags, active) => Subject::RunUser {
                uid: *uid,
                tags,
                active: *active,
            },
            Someone::Tags(tags) => Subject::Tags(tags),
        }
    }
}

fn someone() -> impl Strategy<Value = Someone> {
    // A run user's keys are unique; a bare tag set may repeat one.
    let unique = proptest::collection::btree_map(select(&KEYS[..]), select(&VALUES[..]), 0..=3)
        .prop_map(|tags| tags.into_iter().map(|(k, v)| tag(k, v)).collect::<Vec<_>>());
    prop_oneof![
        3 => ((0u8..5), unique, prop::bool::weighted(0.85))
            .prop_map(|(n, tags, active)| Someone::RunUser(uid(n), tags, active)),
        2 => proptest::collection::vec(any_tag(), 0..=4).prop_map(Someone::Tags),
    ]
}

fn resource(types: Vec<String>) -> impl Strategy<Value = ResourceRef> {
    (
        name_from(types, &TYPES),
        proptest::option::of(select(&IDS[..])),
        proptest::collection::vec(any_tag(), 0..=3),
        proptest::option::of(select(&PATHS[..])),
    )
        .prop_map(|(kind, id, tags, path)| ResourceRef {
            kind,
            id: id.map(str::to_owned),
            tags,
            path: path.map(str::to_owned),
        })
}

struct World {
    policies: Vec<(Uuid, PolicyBody)>,
    requests: Vec<(Someone, String, ResourceRef)>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("policies", &self.policies)
            .field("requests", &self.requests)
            .finish()
    }
}

fn world() -> impl Strategy<Value = World> {
    catalogue().prop_flat_map(|catalogue| {
        let types: Vec<String> = catalogue.types().map(|(kind, _)| kind.to_owned()).collect();
        let mut actions: Vec<String> = catalogue
            .types()
            .flat_map(|(_, actions)| actions.iter().cloned())
            .collect();
        actions.sort();
        actions.dedup();
        (
            policies(types.clone(), actions.clone()),
            proptest::collection::vec(
                (someone(), name_from(actions, &ACTIONS), resource(types)),
                1..=6,
            ),
        )
            .prop_map(|(policies, requests)| World { policies, requests })
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(10_000)
    })]

    #[test]
    fn the_compiled_engine_agrees_with_the_reference(world in world()) {
        let compiled = Compiled::compile(7, &world.policies);
        prop_assert_eq!(compiled.version(), 7);
        for (someone, action, resource) in &world.requests {
            let subject = someone.subject();
            let expected = policy_reference::check(&world.policies, &subject, action, resource);
            let explained = compiled.check(&subject, action, resource, true);
            prop_assert_eq!(&explained, &expected);
            prop_assert_eq!(explained.allowed, explained.effect == DecisionEffect::Allow);
            let quick = compiled.check(&subject, action, resource, false);
            prop_assert_eq!(
                quick,
                Decision { matches: Vec::new(), ..expected }
            );
            prop_assert_eq!(
                compiled.explain_user(&subject),
                policy_reference::explain_user(&world.policies, &subject)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Examples: the rules, one by one.

fn body(name: &str, targets: Vec<Target>, permissions: Vec<Permission>) -> PolicyBody {
    PolicyBody {
        name: name.into(),
        active: true,
        targets,
        permissions,
    }
}

fn grant(effect: Effect, actions: &[&str], resources: Vec<Selector>) -> Permission {
    Permission {
        effect,
        actions: actions.iter().map(|action| (*action).to_owned()).collect(),
        resources,
    }
}

fn everyone(effect: Effect, action: &str, selector: Selector) -> PolicyBody {
    body(
        "everyone",
        vec![Target::AnyRunUser(true)],
        vec![grant(effect, &[action], vec![selector])],
    )
}

fn device(id: Option<&str>, tags: Vec<Tag>, path: Option<&str>) -> ResourceRef {
    ResourceRef {
        kind: "device".into(),
        id: id.map(str::to_owned),
        tags,
        path: path.map(str::to_owned),
    }
}

fn user(tags: &[Tag]) -> Subject<'_> {
    Subject::RunUser {
        uid: uid(1),
        tags,
        active: true,
    }
}

fn decide(
    policies: &[(Uuid, PolicyBody)],
    subject: &Subject,
    action: &str,
    on: &ResourceRef,
) -> Decision {
    Compiled::compile(1, policies).check(subject, action, on, true)
}

#[test]
fn a_deny_wins_over_every_allow_whatever_the_order() {
    let allow = everyone(Effect::Allow, "edit", Selector::of("device"));
    let deny = everyone(Effect::Deny, "edit", Selector::of("device"));
    let resource = device(None, vec![], None);
    for policies in [
        vec![(uid(10), allow.clone()), (uid(20), deny.clone())],
        vec![(uid(20), deny.clone()), (uid(10), allow.clone())],
        vec![(uid(20), allow.clone()), (uid(10), deny.clone())],
    ] {
        let decision = decide(&policies, &user(&[]), "edit", &resource);
        let deny_id = policies
            .iter()
            .find(|(_, body)| body.permissions[0].effect == Effect::Deny)
            .map(|(id, _)| *id);
        assert_eq!(decision.effect, DecisionEffect::Deny);
        assert!(!decision.allowed);
        assert_eq!(decision.decided_by, deny_id);
        assert_eq!(decision.matches.len(), 2);
    }
}

#[test]
fn the_deciding_policy_is_the_smallest_id_of_the_winning_effect() {
    let allow = everyone(Effect::Allow, "edit", Selector::of("device"));
    let policies = vec![
        (uid(30), allow.clone()),
        (uid(20), allow.clone()),
        (uid(40), allow),
    ];
    let decision = decide(&policies, &user(&[]), "edit", &device(None, vec![], None));
    assert_eq!(decision.effect, DecisionEffect::Allow);
    assert!(decision.allowed);
    assert_eq!(decision.decided_by, Some(uid(20)));
    let order: Vec<Uuid> = decision.matches.iter().map(|m| m.policy_id).collect();
    assert_eq!(order, vec![uid(20), uid(30), uid(40)]);
}

#[test]
fn without_a_matching_allow_the_answer_is_default_deny() {
    let policies = vec![(
        uid(10),
        everyone(Effect::Allow, "edit", Selector::of("device")),
    )];
    for (action, kind) in [("access", "device"), ("edit", "file"), ("nope", "nope")] {
        let resource = ResourceRef {
            kind: kind.into(),
            ..device(None, vec![], None)
        };
        let decision = decide(&policies, &user(&[]), action, &resource);
        assert_eq!(decision.effect, DecisionEffect::DefaultDeny);
        assert!(!decision.allowed);
        assert_eq!(decision.decided_by, None);
        assert!(decision.matches.is_empty());
    }
    let decision = decide(&[], &user(&[]), "edit", &device(None, vec![], None));
    assert_eq!(decision.effect, DecisionEffect::DefaultDeny);
}

#[test]
fn inactive_policies_are_ignored() {
    let mut deny = everyone(Effect::Deny, "edit", Selector::of("device"));
    deny.active = false;
    let mut allow_too = everyone(Effect::Allow, "edit", Selector::of("device"));
    allow_too.active = false;
    let allow = everyone(Effect::Allow, "edit", Selector::of("device"));
    let policies = vec![(uid(1), deny), (uid(2), allow_too), (uid(3), allow)];
    let decision = decide(&policies, &user(&[]), "edit", &device(None, vec![], None));
    assert_eq!(decision.effect, DecisionEffect::Allow);
    assert_eq!(decision.decided_by, Some(uid(3)));
    assert_eq!(decision.matches.len(), 1);
}

#[test]
fn an_inactive_run_user_is_denied_before_anything_is_evaluated() {
    let policies = vec![
        (
            uid(1),
            everyone(Effect::Allow, "edit", Selector::of("device")),
        ),
        (
            uid(2),
            everyone(Effect::Deny, "edit", Selector::of("device")),
        ),
    ];
    let inactive = Subject::RunUser {
        uid: uid(1),
        tags: &[],
        active: false,
    };
    let compiled = Compiled::compile(1, &policies);
    for explain in [false, true] {
        let decision = compiled.check(&inactive, "edit", &device(None, vec![], None), explain);
        assert_eq!(
            decision,
            Decision {
                allowed: false,
                effect: DecisionEffect::UserInactive,
                decided_by: None,
                matches: vec![],
            }
        );
    }
}

#[test]
fn each_selector_form_selects_what_it_says() {
    let mine = [tag("site", "paris"), tag("team", "eng")];
    let subject = user(&mine);
    let allowed = |selector: Selector, resource: &ResourceRef| {
        decide(
            &[(uid(9), everyone(Effect::Allow, "edit", selector))],
            &subject,
            "edit",
            resource,
        )
        .allowed
    };
    let plain = device(None, vec![], None);
    // {type}
    assert!(allowed(Selector::of("device"), &plain));
    assert!(!allowed(Selector::of("file"), &plain));
    // {type, id}
    let by_id = Selector {
        id: Some("d1".into()),
        ..Selector::of("device")
    };
    assert!(allowed(by_id.clone(), &device(Some("d1"), vec![], None)));
    assert!(!allowed(by_id.clone(), &device(Some("d2"), vec![], None)));
    assert!(!allowed(by_id, &plain));
    // {type, tag}
    let by_tag = Selector {
        tag: Some(tag("floor", "3")),
        ..Selector::of("device")
    };
    assert!(allowed(
        by_tag.clone(),
        &device(None, vec![tag("x", "y"), tag("floor", "3")], None)
    ));
    assert!(!allowed(
        by_tag.clone(),
        &device(None, vec![tag("floor", "4")], None)
    ));
    assert!(!allowed(by_tag, &plain));
    // {type, tag_match}: the resource's tag equals the subject's; both must carry the key.
    let same_site = Selector {
        tag_match: Some("site".into()),
        ..Selector::of("device")
    };
    assert!(allowed(
        same_site.clone(),
        &device(None, vec![tag("site", "paris")], None)
    ));
    assert!(!allowed(
        same_site.clone(),
        &device(None, vec![tag("site", "rome")], None)
    ));
    assert!(!allowed(same_site, &plain));
    let same_plan = Selector {
        tag_match: Some("plan".into()),
        ..Selector::of("device")
    };
    assert!(!allowed(
        same_plan,
        &device(None, vec![tag("plan", "paris")], None)
    ));
    // {type, path_prefix}: a plain string prefix.
    let under = Selector {
        path_prefix: Some("/eng".into()),
        ..Selector::of("device")
    };
    assert!(allowed(
        under.clone(),
        &device(None, vec![], Some("/eng/a"))
    ));
    assert!(allowed(under.clone(), &device(None, vec![], Some("/eng"))));
    assert!(allowed(
        under.clone(),
        &device(None, vec![], Some("/engine"))
    ));
    assert!(!allowed(
        under.clone(),
        &device(None, vec![], Some("/other/eng"))
    ));
    assert!(!allowed(under, &plain));
}

#[test]
fn targets_name_run_users_tags_or_every_run_user() {
    let eng = [tag("team", "eng")];
    let by_user = body(
        "one user",
        vec![Target::RunUser(uid(1))],
        vec![grant(
            Effect::Allow,
            &["edit"],
            vec![Selector::of("device")],
        )],
    );
    let by_tag = body(
        "engineers",
        vec![Target::Tag(tag("team", "eng"))],
        vec![grant(
            Effect::Allow,
            &["edit"],
            vec![Selector::of("device")],
        )],
    );
    let anyone = everyone(Effect::Allow, "edit", Selector::of("device"));
    let resource = device(None, vec![], None);
    let other_user = Subject::RunUser {
        uid: uid(2),
        tags: &[],
        active: true,
    };
    let allowed = |policy: &PolicyBody, subject: &Subject| {
        decide(&[(uid(9), policy.clone())], subject, "edit", &resource).allowed
    };

    assert!(allowed(&by_user, &user(&[])));
    assert!(!allowed(&by_user, &other_user));
    assert!(
        !allowed(&by_user, &Subject::Tags(&eng)),
        "a tag set is no run user"
    );

    assert!(allowed(&by_tag, &user(&eng)));
    assert!(allowed(&by_tag, &Subject::Tags(&eng)));
    assert!(!allowed(&by_tag, &user(&[tag("team", "ops")])));

    assert!(allowed(&anyone, &user(&[])));
    assert!(allowed(&anyone, &other_user));
    assert!(
        !allowed(&anyone, &Subject::Tags(&eng)),
        "any_run_user is for run users only"
    );
}

#[test]
fn a_bare_subject_repeating_a_key_counts_each_value() {
    let both = [tag("site", "paris"), tag("site", "rome")];
    let by_tag = body(
        "rome",
        vec![Target::Tag(tag("site", "rome"))],
        vec![grant(
            Effect::Allow,
            &["edit"],
            vec![Selector {
                tag_match: Some("site".into()),
                ..Selector::of("device")
            }],
        )],
    );
    let policies = [(uid(1), by_tag)];
    for resource_site in ["paris", "rome"] {
        let resource = device(None, vec![tag("site", resource_site)], None);
        assert!(decide(&policies, &Subject::Tags(&both), "edit", &resource).allowed);
        let reversed = [tag("site", "rome"), tag("site", "paris")];
        assert!(decide(&policies, &Subject::Tags(&reversed), "edit", &resource).allowed);
    }
    let elsewhere = device(None, vec![tag("site", "oslo")], None);
    assert!(!decide(&policies, &Subject::Tags(&both), "edit", &elsewhere).allowed);
}

#[test]
fn explain_lists_every_matching_permission_once() {
    let twice = body(
        "twice",
        vec![
            Target::AnyRunUser(true),
            Target::RunUser(uid(1)),
            Target::Tag(tag("team", "eng")),
        ],
        vec![
            grant(
                Effect::Allow,
                &["edit", "edit"],
                vec![Selector::of("device"), Selector::of("device")],
            ),
            grant(Effect::Allow, &["read"], vec![Selector::of("device")]),
            grant(
                Effect::Deny,
                &["edit"],
                vec![Selector {
                    id: Some("locked".into()),
                    ..Selector::of("device")
                }],
            ),
        ],
    );
    let policies = [(uid(5), twice)];
    let eng = [tag("team", "eng")];
    let open = decide(
        &policies,
        &user(&eng),
        "edit",
        &device(Some("d"), vec![], None),
    );
    assert_eq!(open.effect, DecisionEffect::Allow);
    assert_eq!(
        serde_json::to_value(&open).expect("serialises"),
        json!({
            "allowed": true,
            "effect": "allow",
            "decided_by": uid(5),
            "matches": [{"policy_id": uid(5), "policy_name": "twice", "permission": 0, "effect": "allow"}]
        })
    );
    let locked = decide(
        &policies,
        &user(&eng),
        "edit",
        &device(Some("locked"), vec![], None),
    );
    assert_eq!(locked.effect, DecisionEffect::Deny);
    let indices: Vec<usize> = locked.matches.iter().map(|m| m.permission).collect();
    assert_eq!(indices, vec![0, 2]);
    let quiet = Compiled::compile(1, &policies).check(
        &user(&eng),
        "edit",
        &device(Some("locked"), vec![], None),
        false,
    );
    assert!(quiet.matches.is_empty());
    assert_eq!(
        serde_json::to_value(&quiet).expect("serialises"),
        json!({"allowed": false, "effect": "deny", "decided_by": uid(5)})
    );
    let none = decide(
        &policies,
        &Subject::Tags(&[]),
        "edit",
        &device(None, vec![], None),
    );
    assert_eq!(
        serde_json::to_value(&none).expect("serialises"),
        json!({"allowed": false, "effect": "default-deny", "decided_by": null})
    );
}

#[test]
fn explain_user_resolves_tag_match_and_marks_overriding_denies() {
    let policies = vec![
        (
            uid(2),
            body(
                "site devices",
                vec![Target::Tag(tag("team", "eng"))],
                vec![
                    grant(
                        Effect::Allow,
                        &["edit", "access"],
                        vec![
                            Selector {
                                tag_match: Some("site".into()),
                                ..Selector::of("device")
                            },
                            Selector {
                                tag_match: Some("plan".into()),
                                ..Selector::of("device")
                            },
                        ],
                    ),
                    // The user has no `plan`: this permission can never match them.
                    grant(
                        Effect::Allow,
                        &["read"],
                        vec![Selector {
                            tag_match: Some("plan".into()),
                            ..Selector::of("file")
                        }],
                    ),
                ],
            ),
        ),
        (
            uid(1),
            body(
                "no deletes",
                vec![Target::AnyRunUser(true)],
                vec![
                    grant(
                        Effect::Deny,
                        &["edit"],
                        vec![Selector {
                            id: Some("core".into()),
                            ..Selector::of("device")
                        }],
                    ),
                    grant(Effect::Deny, &["run"], vec![Selector::of("analysis")]),
                ],
            ),
        ),
        (
            uid(3),
            body(
                "someone else",
                vec![Target::RunUser(uid(99))],
                vec![grant(
                    Effect::Allow,
                    &["edit"],
                    vec![Selector::of("device")],
                )],
            ),
        ),
        (
            uid(4),
            PolicyBody {
                active: false,
                ..everyone(Effect::Allow, "run", Selector::of("analysis"))
            },
        ),
    ];
    let mine = [tag("team", "eng"), tag("site", "paris")];
    let applied = Compiled::compile(1, &policies).explain_user(&user(&mine));
    assert_eq!(
        serde_json::to_value(&applied).expect("serialises"),
        json!([
            {"policy_id": uid(1), "policy_name": "no deletes", "permission": 0, "effect": "deny",
             "actions": ["edit"], "resources": [{"type": "device", "id": "core"}], "overrides": true},
            {"policy_id": uid(1), "policy_name": "no deletes", "permission": 1, "effect": "deny",
             "actions": ["run"], "resources": [{"type": "analysis"}], "overrides": false},
            {"policy_id": uid(2), "policy_name": "site devices", "permission": 0, "effect": "allow",
             "actions": ["edit", "access"],
             "resources": [{"type": "device", "tag": {"key": "site", "value": "paris"}}],
             "overrides": false}
        ])
    );
    assert_eq!(
        applied,
        policy_reference::explain_user(&policies, &user(&mine))
    );
}

// ---------------------------------------------------------------------------------------------
// Validation: every form that could never match is refused at its exact path.

fn valid() -> serde_json::Value {
    json!({
        "name": "Engineers",
        "targets": [
            {"tag": {"key": "team", "value": "eng"}},
            {"run_user": uid(1)},
            {"any_run_user": true},
            {"run_user": uid(2)}
        ],
        "permissions": [
            {"effect": "allow", "actions": ["access", "edit", "delete"], "resources": [
                {"type": "device"},
                {"type": "device", "id": "d1"},
                {"type": "device", "tag": {"key": "site", "value": "paris"}},
                {"type": "device", "tag_match": "site"}
            ]},
            {"effect": "deny", "actions": ["write"], "resources": [{"type": "file", "path_prefix": "/secret/"}]}
        ]
    })
}

/// The path the refusal of `edited` (a change to `valid()`) names.
fn refused_at(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut value = valid();
    edit(&mut value);
    let body: PolicyBody = serde_json::from_value(value).expect("well-formed JSON");
    match validate(&body, &Catalogue::default()) {
        Err(Refusal::Invalid { field, .. }) => field,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_valid_policy_answers_the_run_users_it_names() {
    let body: PolicyBody = serde_json::from_value(valid()).expect("well-formed");
    let users = validate(&body, &Catalogue::default()).expect("valid");
    let named: Vec<(usize, Uuid, String)> =
        users.iter().map(|u| (u.index, u.uid, u.field())).collect();
    assert_eq!(
        named,
        vec![
            (1, uid(1), "targets[1].run_user".to_owned()),
            (3, uid(2), "targets[3].run_user".to_owned()),
        ]
    );
}

#[test]
fn the_name_is_required_and_bounded() {
    assert_eq!(refused_at(|v| v["name"] = json!("  ")), "name");
    assert_eq!(refused_at(|v| v["name"] = json!("n".repeat(101))), "name");
}

#[test]
fn empty_targets_are_refused() {
    assert_eq!(refused_at(|v| v["targets"] = json!([])), "targets");
}

#[test]
fn empty_permissions_are_refused() {
    assert_eq!(refused_at(|v| v["permissions"] = json!([])), "permissions");
}

#[test]
fn empty_actions_are_refused() {
    assert_eq!(
        refused_at(|v| v["permissions"][1]["actions"] = json!([])),
        "permissions[1].actions"
    );
}

#[test]
fn empty_resources_are_refused() {
    assert_eq!(
        refused_at(|v| v["permissions"][0]["resources"] = json!([])),
        "permissions[0].resources"
    );
}

#[test]
fn an_unknown_resource_type_is_refused() {
    assert_eq!(
        refused_at(|v| v["permissions"][0]["resources"][1]["type"] = json!("printer")),
        "permissions[0].resources[1].type"
    );
}

#[test]
fn an_action_the_type_lacks_is_refused() {
    assert_eq!(
        refused_at(|v| v["permissions"][0]["actions"][2] = json!("write")),
        "permissions[0].actions[2]"
    );
}

#[test]
fn a_type_with_none_of_the_permissions_actions_is_refused() {
    // `access` is a device's and a dashboard's action, `run` an analysis's: the file selector
    // could never match.
    assert_eq!(
        refused_at(
            |v| v["permissions"][0] = json!({"effect": "allow", "actions": ["access", "run"],
            "resources": [{"type": "device"}, {"type": "file"}, {"type": "analysis"}]})
        ),
        "permissions[0].resources[1].type"
    );
    assert!(
        serde_json::from_value::<PolicyBody>(
            json!({"name": "mixed", "targets": [{"any_run_user": true}],
            "permissions": [{"effect": "allow", "actions": ["access", "run"],
            "resources": [{"type": "device"}, {"type": "analysis"}]}]})
        )
        .map(|body| validate(&body, &Catalogue::default()).is_ok())
        .unwrap_or(false),
        "one permission may mix types when each has one of its actions"
    );
}

#[test]
fn any_run_user_false_is_refused() {
    assert_eq!(
        refused_at(|v| v["targets"][2] = json!({"any_run_user": false})),
        "targets[2].any_run_user"
    );
}

#[test]
fn target_tags_are_refused_outside_a_run_users_tag_bounds() {
    let at = |key: serde_json::Value, value: serde_json::Value| {
        refused_at(|v| v["targets"][0]["tag"] = json!({"key": key, "value": value}))
    };
    assert_eq!(at(json!(""), json!("eng")), "targets[0].tag.key");
    assert_eq!(
        at(json!("k".repeat(65)), json!("eng")),
        "targets[0].tag.key"
    );
    assert_eq!(at(json!(" team"), json!("eng")), "targets[0].tag.key");
    assert_eq!(
        at(json!("te\u{202e}am"), json!("eng")),
        "targets[0].tag.key"
    );
    assert_eq!(at(json!("team"), json!("")), "targets[0].tag.value");
    assert_eq!(
        at(json!("team"), json!("v".repeat(257))),
        "targets[0].tag.value"
    );
    assert_eq!(at(json!("team"), json!("eng\u{0}")), "targets[0].tag.value");
    // The bounds themselves, and the line breaks a run user's value may hold, are accepted.
    let body: PolicyBody = serde_json::from_value({
        let mut v = valid();
        v["targets"][0]["tag"] =
            json!({"key": "k".repeat(64), "value": format!("a\nb{}", "v".repeat(253))});
        v
    })
    .expect("well-formed");
    assert!(validate(&body, &Catalogue::default()).is_ok());
}

#[test]
fn selector_tags_are_refused_outside_the_bounds() {
    assert_eq!(
        refused_at(|v| v["permissions"][0]["resources"][2]["tag"]["value"] = json!("")),
        "permissions[0].resources[2].tag.value"
    );
    assert_eq!(
        refused_at(|v| v["permissions"][0]["resources"][2]["tag"]["key"] = json!("k".repeat(65))),
        "permissions[0].resources[2].tag.key"
    );
}

#[test]
fn a_selector_with_two_qualifiers_is_refused() {
    assert_eq!(
        refused_at(|v| v["permissions"][0]["resources"][1]["path_prefix"] = json!("/a")),
        "permissions[0].resources[1]"
    );
}

#[test]
fn an_empty_path_prefix_is_refused() {
    assert_eq!(
        refused_at(|v| v["permissions"][1]["resources"][0]["path_prefix"] = json!("")),
        "permissions[1].resources[0].path_prefix"
    );
}

#[test]
fn an_empty_or_unbounded_tag_match_is_refused() {
    assert_eq!(
        refused_at(|v| v["permissions"][0]["resources"][3]["tag_match"] = json!("")),
        "permissions[0].resources[3].tag_match"
    );
    assert_eq!(
        refused_at(|v| v["permissions"][0]["resources"][3]["tag_match"] = json!("k".repeat(65))),
        "permissions[0].resources[3].tag_match"
    );
}

#[test]
fn an_empty_id_is_refused() {
    assert_eq!(
        refused_at(|v| v["permissions"][0]["resources"][1]["id"] = json!("")),
        "permissions[0].resources[1].id"
    );
}

#[test]
fn lists_are_bounded() {
    let many = |item: serde_json::Value, n: usize| json!(vec![item; n]);
    assert_eq!(
        refused_at(|v| v["targets"] = many(json!({"any_run_user": true}), 51)),
        "targets"
    );
    let permission = valid()["permissions"][1].clone();
    assert_eq!(
        refused_at(|v| v["permissions"] = many(permission, 51)),
        "permissions"
    );
    assert_eq!(
        refused_at(|v| v["permissions"][1]["actions"] = many(json!("write"), 51)),
        "permissions[1].actions"
    );
    assert_eq!(
        refused_at(|v| v["permissions"][1]["resources"] = many(json!({"type": "file"}), 51)),
        "permissions[1].resources"
    );
    assert!(
        serde_json::from_value::<PolicyBody>({
            let mut v = valid();
            v["targets"] = many(json!({"any_run_user": true}), 50);
            v
        })
        .map(|body| validate(&body, &Catalogue::default()).is_ok())
        .unwrap_or(false)
    );
}

#[test]
fn catalogues_are_checked_and_types_in_use_are_named() {
    let catalogue =
        |value: serde_json::Value| serde_json::from_value::<Catalogue>(value).expect("well-formed");
    let refused = |value: serde_json::Value| match validate_catalogue(&catalogue(value)) {
        Err(Refusal::Invalid { field, .. }) => field,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(validate_catalogue(&Catalogue::default()), Ok(()));
    assert_eq!(refused(json!({"Device": ["access"]})), "Device");
    assert_eq!(refused(json!({"": ["access"]})), "");
    assert_eq!(refused(json!({"device": []})), "device");
    assert_eq!(refused(json!({"device": ["access", "ed it"]})), "device[1]");
    assert_eq!(
        refused(json!({"device": ["access", "edit", "access"]})),
        "device[2]"
    );
    assert_eq!(refused(json!({"device": ["a".repeat(65)]})), "device[0]");
    let actions: Vec<String> = (0..51).map(|i| format!("a{i}")).collect();
    assert_eq!(refused(json!({"device": actions})), "device");
    let types: BTreeMap<String, Vec<&str>> =
        (0..101).map(|i| (format!("t{i}"), vec!["x"])).collect();
    assert_eq!(refused(json!(types)), "body");

    let mut inactive: PolicyBody = serde_json::from_value(valid()).expect("well-formed");
    inactive.active = false;
    let dashboards = everyone(Effect::Allow, "edit", Selector::of("dashboard"));
    let in_use = types_in_use([&inactive, &dashboards]);
    assert_eq!(
        in_use.into_iter().collect::<Vec<_>>(),
        vec!["dashboard", "device", "file"]
    );
}
