//! Our policy check (`shared::domain::policies::Compiled::check`) against Cedar's
//! (`cedar_policy::Authorizer::is_authorized`) on the same 1,000 policies and the same 10,000
//! requests (issue 12: the median time per check, ours / Cedar's, below 1.0).
//!
//! ## The profile (deterministic: a splitmix64 generator with a fixed seed)
//! - The catalogue: DESIGN.md's default (`device`, `dashboard`, `file`, `analysis`) plus
//!   `report: [read, export]` and `alarm: [ack, mute, configure]`: 6 types, 16 (type, action)
//!   pairs.
//! - 2,000 run users, each with `site` (one of 40), `role` (operator, engineer, viewer, manager,
//!   admin), `region` (of the site) and, for 70 %, `plan` (free, pro, gold); 4 % inactive.
//! - 1,000 policies, every one of which `validate` accepts against the catalogue (so each could be
//!   saved): targets 55 % one tag, 15 % two tags, 15 % one to three run users, 5 % any run user,
//!   10 % a tag and a run user; one to three permissions, 10 % of them deny; selectors of every
//!   form (allows mostly `{type}`, `{type, tag}` and `{type, tag_match}`; denies mostly `{type,
//!   id}`, `{type, path_prefix}` and `{type, tag}`), a fifth of the permissions with a second
//!   selector (of the same type or of another type sharing an action); 3 % of policies inactive.
//! - 10,000 requests: a user drawn among the 2,000 (so about 4 % inactive), a resource of a
//!   catalogue type (3 % of a type the catalogue lacks), an action of that type (8 % an action of
//!   another type); the resource has an id (90 %), a `site` tag (half the time the user's own;
//!   15 % of resources carry a second `site`: a repeated key), `region`, often a `class` tag, and
//!   a path under `/sites/<site>/<team>/` or `/shared/<team>/` (one team is named `t*`, so that
//!   an unescaped `*` in a Cedar `like` pattern would show as a wrong decision).
//!
//! ## The translation to Cedar (also in BENCHMARKS.md)
//! - A run user is an entity `User::"<uid>"` with the attribute `active` (Bool) and one Cedar
//!   entity tag per tag of ours (key → String: a run user's keys are unique).
//! - A resource of our type `t` is an entity of type `T_<t>` (`_` written `_u`, `-` written `_d`:
//!   our type names are `[a-z0-9_-]`, Cedar's are identifiers), with the attributes `id` and `path`
//!   when it has them, and one entity tag per key (key → Set of Strings: a resource may repeat a
//!   key). An action is `Action::"<action>"` (the pair (type, action) is the resource's entity
//!   type and the action).
//! - Inactive policies are left out. One `forbid(principal is User, action, resource) when {
//!   !principal.active };` (id `user-inactive`) denies inactive users: Cedar decides everything
//!   itself, as our check does (which returns `user-inactive` before looking at any policy).
//! - Each (active policy, permission, resource type among its selectors) is one `permit` (allow)
//!   or `forbid` (deny), with id `p<rank>.<permission>.<type>`:
//!   - scope: `action == Action::"a"` or `action in [Action::"a", …]` (its actions), `resource is
//!     T_<type>`, and `principal == User::"<uid>"` when the only target is one run user,
//!     `principal is User` when it is only `any_run_user`; otherwise `principal` with a `when` that
//!     ORs the targets: `principal == User::"<uid>"`, `(principal.hasTag("k") &&
//!     principal.getTag("k") == "v")`, `principal is User`;
//!   - a second `when` ORs the selectors of that type (none when one of them is the whole type),
//!     each the conjunction of its qualifiers: `id`: `(resource has id && resource.id == "…")`;
//!     `tag`: `(resource.hasTag("k") && resource.getTag("k").contains("v"))`; `tag_match: k`:
//!     `(principal.hasTag("k") && resource.hasTag("k") &&
//!     resource.getTag("k").contains(principal.getTag("k")))`; `path_prefix`: `(resource has path
//!     && resource.path like "<prefix, * escaped as \*>*")`. Strings are Cedar literals (`"` and
//!     `\` escaped).
//!   - Deny wins in Cedar as in ours (any satisfied forbid denies); no satisfied permit denies.
//!
//! ## What is checked before timing
//! For every request: Cedar reports no evaluation error; its decision is ours (`allowed`); its
//! reasons are exactly, for `user-inactive`, a set holding the `user-inactive` forbid; for
//! `deny`, forbids only, whose (policy, permission) pairs are exactly the denies our `explain`
//! lists, the smallest policy id among them being our `decided_by`; for `allow`, the same with
//! permits and allows; for `default-deny`, nothing. Ours without `explain` answers the same as
//! with it. Any difference fails the bench, printing the first ones.
//!
//! ## What is timed
//! - Per check, each call alone between two `Instant::now()` (the timer's own cost, printed,
//!   is included in both), the three interleaved per request, which goes first rotating, over 3
//!   rounds of the 10,000 requests (30,000 samples each), so the machine's noise falls on all:
//!   - ours: `Compiled::check(&subject, action, &resource, false)` against a set compiled once;
//!     the subject borrows the user's record, the resource is our `ResourceRef`, as the route has
//!     them;
//!   - Cedar (the headline): `Authorizer::is_authorized(&request, &policy_set, &entities)` with the
//!     `PolicySet`, the `Entities` (the 2,000 users and the 10,000 requests' resources) and each
//!     `Request` built beforehand: Cedar's decision alone, nothing of the conversion counted;
//!   - Cedar with its request built per check: the resource entity from our `ResourceRef`, an
//!     `Entities` of the user's (prebuilt) entity and that resource, the `Request`, then
//!     `is_authorized`: what an application holding our data must do per check (shown apart, not
//!     used for the ratio).
//! - Ours again, each call timed alone, over 3 rounds with no Cedar call in between: Cedar's
//!   long calls leave the caches cold for ours in the interleaved loop, so the two tell ours cold
//!   from ours warm.
//! - Also the mean per check in a tight loop over the 10,000 (no timer per call), and the time to
//!   compile the 1,000 policies: ours `Compiled::compile` from the bodies (and from their JSON
//!   text), Cedar's `Policy::parse` of each translated text and `PolicySet::add` (the translation
//!   itself is the bench's, not counted), medians of 5.
//!
//! `cargo bench -p tenantry-tests --bench policy_check`: about six minutes once built on a loaded
//! 2-core machine, nearly all of it Cedar's 90,000 checks. The figures are in BENCHMARKS.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, Policy, PolicyId, PolicySet, Request, Response, RestrictedExpression,
};
use shared::domain::policies::validate::validate;
use shared::domain::policies::{
    Catalogue, Compiled, Decision, DecisionEffect, Effect, Permission, PolicyBody, ResourceRef,
    Selector, Subject, Target,
};
use shared::domain::records::Tag;
use uuid::Uuid;

const USERS: usize = 2_000;
const POLICIES: usize = 1_000;
const REQUESTS: usize = 10_000;
const ROUNDS: usize = 3;
const COMPILES: usize = 5;
const SEED: u64 = 0x7E4A_17C0_12AB_CDEF;

const SITES: usize = 40;
const ROLES: [(&str, u32); 5] = [
    ("operator", 40),
    ("engineer", 25),
    ("viewer", 20),
    ("manager", 10),
    ("admin", 5),
];
const PLANS: [&str; 3] = ["free", "pro", "gold"];
const REGIONS: [&str; 3] = ["eu", "us", "ap"];
const CLASSES: [&str; 3] = ["public", "internal", "restricted"];
const TEAMS: [&str; 5] = ["ops", "eng", "finance", "hr", "t*"];
/// Resource ids are `<type>-<n>` with `n` below this.
const IDS_PER_TYPE: usize = 300;
/// The catalogue's types, with how often a policy or a request is about each.
const TYPE_WEIGHTS: [(&str, u32); 6] = [
    ("device", 30),
    ("dashboard", 20),
    ("file", 25),
    ("analysis", 8),
    ("report", 10),
    ("alarm", 7),
];
/// The Cedar policy that denies inactive users.
const INACTIVE: &str = "user-inactive";

// ---------------------------------------------------------------------------------------------
// A tiny deterministic generator (splitmix64).

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, weight)| weight).sum();
        let mut draw = (self.next_u64() % u64::from(total)) as u32;
        for (item, weight) in items {
            if draw < *weight {
                return item;
            }
            draw -= weight;
        }
        unreachable!("the draw is below the total")
    }
}

// ---------------------------------------------------------------------------------------------
// The profile.

struct User {
    uid: Uuid,
    tags: Vec<Tag>,
    active: bool,
}

impl User {
    fn subject(&self) -> Subject<'_> {
        Subject::RunUser {
            uid: self.uid,
            tags: &self.tags,
            active: self.active,
        }
    }

    fn site(&self) -> &str {
        self.tags
            .iter()
            .find(|tag| tag.key == "site")
            .map_or("site-00", |tag| tag.value.as_str())
    }
}

/// One request: user `user` asks to do `action` on `resource`.
struct Ask {
    user: usize,
    action: String,
    resource: ResourceRef,
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

fn site(n: usize) -> String {
    format!("site-{n:02}")
}

fn region_of(site: &str) -> &'static str {
    let n: usize = site
        .trim_start_matches("site-")
        .parse()
        .expect("sites are site-NN");
    REGIONS[n % REGIONS.len()]
}

fn catalogue() -> Catalogue {
    let mut types = BTreeMap::new();
    for (kind, actions) in Catalogue::default().types() {
        types.insert(kind.to_owned(), actions.to_vec());
    }
    types.insert("report".into(), vec!["read".into(), "export".into()]);
    types.insert(
        "alarm".into(),
        vec!["ack".into(), "mute".into(), "configure".into()],
    );
    Catalogue::new(types)
}

fn users(rng: &mut Rng) -> Vec<User> {
    (0..USERS)
        .map(|_| {
            let uid =
                Uuid::from_u128((u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()));
            let home = site(rng.below(SITES));
            let mut tags = vec![
                tag("site", &home),
                tag("role", rng.weighted::<&str>(&ROLES)),
                tag("region", region_of(&home)),
            ];
            if rng.percent(70) {
                tags.push(tag("plan", rng.pick::<&str>(&PLANS)));
            }
            User {
                uid,
                tags,
                active: !rng.percent(4),
            }
        })
        .collect()
}

fn tag_target(rng: &mut Rng) -> Target {
    let key = *rng.weighted(&[("site", 50), ("role", 30), ("plan", 10), ("region", 10)]);
    let value = match key {
        "site" => site(rng.below(SITES)),
        "role" => (*rng.weighted(&ROLES)).to_owned(),
        "plan" => (*rng.pick(&PLANS)).to_owned(),
        _ => (*rng.pick(&REGIONS)).to_owned(),
    };
    Target::Tag(tag(key, &value))
}

fn path_prefix(rng: &mut Rng) -> String {
    let team = rng.pick(&TEAMS);
    match rng.below(100) {
        0..40 => format!("/sites/{}/", site(rng.below(SITES))),
        40..70 => format!("/sites/{}/{team}/", site(rng.below(SITES))),
        70..85 => "/shared/".to_owned(),
        _ => format!("/shared/{team}"),
    }
}

/// Which qualifier a selector has.
#[derive(Clone, Copy)]
enum Form {
    Type,
    Id,
    Tag,
    TagMatch,
    PathPrefix,
}

fn selector(rng: &mut Rng, kind: &str, deny: bool) -> Selector {
    let form = if deny {
        *rng.weighted(&[
            (Form::Type, 5),
            (Form::Id, 35),
            (Form::Tag, 20),
            (Form::TagMatch, 5),
            (Form::PathPrefix, 35),
        ])
    } else {
        *rng.weighted(&[
            (Form::Type, 30),
            (Form::Id, 10),
            (Form::Tag, 25),
            (Form::TagMatch, 25),
            (Form::PathPrefix, 10),
        ])
    };
    let mut selector = Selector::of(kind);
    match form {
        Form::Type => {}
        Form::Id => selector.id = Some(format!("{kind}-{}", rng.below(IDS_PER_TYPE))),
        Form::Tag => {
            selector.tag = Some(match rng.below(100) {
                0..40 => tag("class", rng.pick::<&str>(&CLASSES)),
                40..80 => tag("site", &site(rng.below(SITES))),
                _ => tag("region", rng.pick::<&str>(&REGIONS)),
            })
        }
        Form::TagMatch => {
            selector.tag_match = Some(if rng.percent(70) { "site" } else { "region" }.to_owned())
        }
        Form::PathPrefix => selector.path_prefix = Some(path_prefix(rng)),
    }
    selector
}

fn permission(rng: &mut Rng, catalogue: &Catalogue) -> Permission {
    let deny = rng.percent(10);
    let kind = *rng.weighted(&TYPE_WEIGHTS);
    let available = catalogue.actions(kind).expect("a catalogue type");
    let mut actions = vec![rng.pick(available).clone()];
    if available.len() > 1 && rng.percent(40) {
        let other = rng.pick(available).clone();
        if !actions.contains(&other) {
            actions.push(other);
        }
    }
    let mut resources = vec![selector(rng, kind, deny)];
    if rng.percent(20) {
        // Another type that has one of the actions (else the same type).
        let others: Vec<&str> = catalogue
            .types()
            .filter(|(other, its)| *other != kind && actions.iter().any(|a| its.contains(a)))
            .map(|(other, _)| other)
            .collect();
        let second = if !others.is_empty() && rng.percent(30) {
            *rng.pick(&others)
        } else {
            kind
        };
        resources.push(selector(rng, second, deny));
    }
    Permission {
        effect: if deny { Effect::Deny } else { Effect::Allow },
        actions,
        resources,
    }
}

fn policies(rng: &mut Rng, users: &[User], catalogue: &Catalogue) -> Vec<(Uuid, PolicyBody)> {
    (0..POLICIES)
        .map(|n| {
            let id =
                Uuid::from_u128((u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()));
            let someone = |rng: &mut Rng| Target::RunUser(rng.pick(users).uid);
            let targets = match rng.below(100) {
                0..55 => vec![tag_target(rng)],
                55..70 => vec![tag_target(rng), tag_target(rng)],
                70..85 => (0..1 + rng.below(3)).map(|_| someone(rng)).collect(),
                85..90 => vec![Target::AnyRunUser(true)],
                _ => vec![tag_target(rng), someone(rng)],
            };
            let count = *rng.weighted(&[(1, 50), (2, 35), (3, 15)]);
            let permissions = (0..count).map(|_| permission(rng, catalogue)).collect();
            let body = PolicyBody {
                name: format!("policy {n}"),
                active: !rng.percent(3),
                targets,
                permissions,
            };
            if let Err(refusal) = validate(&body, catalogue) {
                panic!("generated policy {n} would be refused: {refusal:?}\n{body:?}");
            }
            (id, body)
        })
        .collect()
}

fn requests(rng: &mut Rng, users: &[User], catalogue: &Catalogue) -> Vec<Ask> {
    let every_action: Vec<String> = catalogue
        .types()
        .flat_map(|(_, actions)| actions.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    (0..REQUESTS)
        .map(|_| {
            let user = rng.below(USERS);
            let kind = if rng.percent(3) {
                "printer"
            } else {
                *rng.weighted(&TYPE_WEIGHTS)
            };
            let action = match catalogue.actions(kind) {
                Some(actions) if !rng.percent(8) => rng.pick(actions).clone(),
                _ => rng.pick(&every_action).clone(),
            };
            let number = rng.below(IDS_PER_TYPE);
            let id = (!rng.percent(10)).then(|| format!("{kind}-{number}"));
            let home = if rng.percent(50) {
                users[user].site().to_owned()
            } else {
                site(rng.below(SITES))
            };
            let mut tags = vec![tag("site", &home), tag("region", region_of(&home))];
            if rng.percent(15) {
                let second = site(rng.below(SITES));
                tags.push(tag("region", region_of(&second)));
                tags.push(tag("site", &second));
            }
            if rng.percent(80) {
                tags.push(tag("class", rng.pick::<&str>(&CLASSES)));
            }
            let with_path = matches!(kind, "file" | "report" | "dashboard") || rng.percent(20);
            let path = with_path.then(|| {
                let team = rng.pick(&TEAMS);
                if rng.percent(75) {
                    format!("/sites/{home}/{team}/{kind}-{number}")
                } else {
                    format!("/shared/{team}/{kind}-{number}")
                }
            });
            Ask {
                user,
                action,
                resource: ResourceRef {
                    kind: kind.to_owned(),
                    id,
                    tags,
                    path,
                },
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The translation to Cedar.

/// Where a Cedar policy comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    Inactive,
    Permission {
        policy: Uuid,
        index: usize,
        effect: Effect,
    },
}

struct Translated {
    id: String,
    text: String,
    source: Source,
}

/// The Cedar entity type of our resource type (an identifier, one-to-one).
fn entity_type(kind: &str) -> String {
    let mut name = String::from("T_");
    for c in kind.chars() {
        match c {
            '_' => name.push_str("_u"),
            '-' => name.push_str("_d"),
            c => name.push(c),
        }
    }
    name
}

/// Appends `text` to `out` escaped for a Cedar string literal (and `*` too, for a pattern).
fn escape_into(out: &mut String, text: &str, pattern: bool) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '*' if pattern => out.push_str("\\*"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// A Cedar string literal.
fn lit(text: &str) -> String {
    let mut out = String::from("\"");
    escape_into(&mut out, text, false);
    out.push('"');
    out
}

/// A Cedar `like` pattern selecting the strings that start with `prefix`.
fn prefix_pattern(prefix: &str) -> String {
    let mut out = String::from("\"");
    escape_into(&mut out, prefix, true);
    out.push_str("*\"");
    out
}

fn user_ref(uid: &Uuid) -> String {
    format!("User::{}", lit(&uid.to_string()))
}

/// The scope's principal, and the `when` of the targets when the scope cannot say it.
fn principal_clause(targets: &[Target]) -> (String, Option<String>) {
    let terms: BTreeSet<String> = targets
        .iter()
        .map(|target| match target {
            Target::RunUser(uid) => format!("principal == {}", user_ref(uid)),
            Target::Tag(tag) => format!(
                "(principal.hasTag({key}) && principal.getTag({key}) == {value})",
                key = lit(&tag.key),
                value = lit(&tag.value)
            ),
            Target::AnyRunUser(true) => "principal is User".to_owned(),
            Target::AnyRunUser(false) => "false".to_owned(),
        })
        .collect();
    match (terms.len(), targets.first()) {
        (0, _) => ("principal".to_owned(), Some("false".to_owned())),
        (1, Some(Target::RunUser(_) | Target::AnyRunUser(true))) => {
            (terms.into_iter().next().expect("one term"), None)
        }
        _ => (
            "principal".to_owned(),
            Some(terms.into_iter().collect::<Vec<_>>().join(" || ")),
        ),
    }
}

/// The condition of one selector (without its type, which the scope has); `None` for the whole
/// type.
fn selector_condition(selector: &Selector) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(id) = &selector.id {
        parts.push(format!("(resource has id && resource.id == {})", lit(id)));
    }
    if let Some(tag) = &selector.tag {
        parts.push(format!(
            "(resource.hasTag({key}) && resource.getTag({key}).contains({value}))",
            key = lit(&tag.key),
            value = lit(&tag.value)
        ));
    }
    if let Some(key) = &selector.tag_match {
        parts.push(format!(
            "(principal.hasTag({key}) && resource.hasTag({key}) && \
             resource.getTag({key}).contains(principal.getTag({key})))",
            key = lit(key)
        ));
    }
    if let Some(prefix) = &selector.path_prefix {
        parts.push(format!(
            "(resource has path && resource.path like {})",
            prefix_pattern(prefix)
        ));
    }
    (!parts.is_empty()).then(|| parts.join(" && "))
}

fn translate(policies: &[(Uuid, PolicyBody)]) -> Vec<Translated> {
    let mut translated = vec![Translated {
        id: INACTIVE.to_owned(),
        text: "forbid(principal is User, action, resource) when { !principal.active };".to_owned(),
        source: Source::Inactive,
    }];
    for (rank, (policy_id, body)) in policies.iter().enumerate() {
        if !body.active {
            continue;
        }
        let (principal, targets) = principal_clause(&body.targets);
        for (index, permission) in body.permissions.iter().enumerate() {
            let effect = match permission.effect {
                Effect::Allow => "permit",
                Effect::Deny => "forbid",
            };
            let actions: BTreeSet<&str> = permission.actions.iter().map(String::as_str).collect();
            let actions: Vec<String> = actions
                .into_iter()
                .map(|action| format!("Action::{}", lit(action)))
                .collect();
            let action = match &actions[..] {
                [one] => format!("action == {one}"),
                many => format!("action in [{}]", many.join(", ")),
            };
            let kinds: BTreeSet<&str> = permission
                .resources
                .iter()
                .map(|selector| selector.kind.as_str())
                .collect();
            for kind in kinds {
                let conditions: Option<BTreeSet<String>> = permission
                    .resources
                    .iter()
                    .filter(|selector| selector.kind == kind)
                    .map(selector_condition)
                    .collect();
                let mut text = format!(
                    "{effect}({principal}, {action}, resource is {})",
                    entity_type(kind)
                );
                if let Some(targets) = &targets {
                    text.push_str(&format!(" when {{ {targets} }}"));
                }
                if let Some(conditions) = conditions {
                    let conditions: Vec<String> = conditions.into_iter().collect();
                    text.push_str(&format!(" when {{ {} }}", conditions.join(" || ")));
                }
                text.push(';');
                translated.push(Translated {
                    id: format!("p{rank}.{index}.{kind}"),
                    text,
                    source: Source::Permission {
                        policy: *policy_id,
                        index,
                        effect: permission.effect,
                    },
                });
            }
        }
    }
    translated
}

fn compile_cedar(translated: &[Translated]) -> PolicySet {
    let mut set = PolicySet::new();
    for policy in translated {
        let parsed = Policy::parse(Some(PolicyId::new(&policy.id)), &policy.text)
            .unwrap_or_else(|error| panic!("{}: {error}\n{}", policy.id, policy.text));
        set.add(parsed).expect("policy ids are unique");
    }
    set
}

fn type_name(name: &str) -> EntityTypeName {
    EntityTypeName::from_str(name).expect("a Cedar identifier")
}

fn user_uid(user: &User) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name("User"), EntityId::new(user.uid.to_string()))
}

fn user_entity(user: &User) -> Entity {
    Entity::new_with_tags(
        user_uid(user),
        [(
            "active".to_owned(),
            RestrictedExpression::new_bool(user.active),
        )],
        Vec::<EntityUid>::new(),
        user.tags.iter().map(|tag| {
            (
                tag.key.clone(),
                RestrictedExpression::new_string(tag.value.clone()),
            )
        }),
    )
    .expect("a user entity")
}

fn resource_entity(uid: EntityUid, resource: &ResourceRef) -> Entity {
    let mut attrs = Vec::with_capacity(2);
    if let Some(id) = &resource.id {
        attrs.push((
            "id".to_owned(),
            RestrictedExpression::new_string(id.clone()),
        ));
    }
    if let Some(path) = &resource.path {
        attrs.push((
            "path".to_owned(),
            RestrictedExpression::new_string(path.clone()),
        ));
    }
    let mut tags: BTreeMap<&str, Vec<RestrictedExpression>> = BTreeMap::new();
    for tag in &resource.tags {
        tags.entry(&tag.key)
            .or_default()
            .push(RestrictedExpression::new_string(tag.value.clone()));
    }
    let tags = tags
        .into_iter()
        .map(|(key, values)| (key.to_owned(), RestrictedExpression::new_set(values)));
    Entity::new_with_tags(uid, attrs, Vec::<EntityUid>::new(), tags).expect("a resource entity")
}

/// Cedar's side, built once.
struct Cedar {
    authorizer: Authorizer,
    set: PolicySet,
    /// The users and every request's resource.
    entities: Entities,
    requests: Vec<Request>,
    /// For the per-check construction: the users' entities and uids, the type names.
    users: Vec<(EntityUid, Entity)>,
    types: HashMap<String, EntityTypeName>,
    action_type: EntityTypeName,
    sources: HashMap<PolicyId, Source>,
}

impl Cedar {
    fn build(translated: &[Translated], users: &[User], asks: &[Ask]) -> Cedar {
        let set = compile_cedar(translated);
        let users: Vec<(EntityUid, Entity)> = users
            .iter()
            .map(|user| (user_uid(user), user_entity(user)))
            .collect();
        let types: HashMap<String, EntityTypeName> = asks
            .iter()
            .map(|ask| {
                let kind = &ask.resource.kind;
                (kind.clone(), type_name(&entity_type(kind)))
            })
            .collect();
        let action_type = type_name("Action");
        let mut entities: Vec<Entity> = users.iter().map(|(_, entity)| entity.clone()).collect();
        let mut requests = Vec::with_capacity(asks.len());
        for (n, ask) in asks.iter().enumerate() {
            let resource = EntityUid::from_type_name_and_id(
                types[&ask.resource.kind].clone(),
                EntityId::new(format!("r{n}")),
            );
            entities.push(resource_entity(resource.clone(), &ask.resource));
            let action =
                EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(&ask.action));
            requests.push(
                Request::new(
                    users[ask.user].0.clone(),
                    action,
                    resource,
                    Context::empty(),
                    None,
                )
                .expect("a request without a schema"),
            );
        }
        let entities = Entities::from_entities(entities, None).expect("distinct entities");
        let sources = translated
            .iter()
            .map(|policy| (PolicyId::new(&policy.id), policy.source))
            .collect();
        Cedar {
            authorizer: Authorizer::new(),
            set,
            entities,
            requests,
            users,
            types,
            action_type,
            sources,
        }
    }

    /// Cedar's decision alone, everything prebuilt.
    fn check(&self, n: usize) -> Response {
        self.authorizer
            .is_authorized(&self.requests[n], &self.set, &self.entities)
    }

    /// Cedar's decision from our request: the resource entity, the request's entities and the
    /// request are built here.
    fn check_building(&self, ask: &Ask) -> Response {
        let resource = EntityUid::from_type_name_and_id(
            self.types[&ask.resource.kind].clone(),
            EntityId::new("resource"),
        );
        let (principal, user) = &self.users[ask.user];
        let entities = Entities::from_entities(
            [
                user.clone(),
                resource_entity(resource.clone(), &ask.resource),
            ],
            None,
        )
        .expect("two distinct entities");
        let action =
            EntityUid::from_type_name_and_id(self.action_type.clone(), EntityId::new(&ask.action));
        let request = Request::new(principal.clone(), action, resource, Context::empty(), None)
            .expect("a request without a schema");
        self.authorizer
            .is_authorized(&request, &self.set, &entities)
    }
}

// ---------------------------------------------------------------------------------------------
// The comparison.

/// Why Cedar's answer differs from ours, if it does. `ours` was asked with `explain`.
fn differs(
    ours: &Decision,
    cedar: &Response,
    sources: &HashMap<PolicyId, Source>,
) -> Option<String> {
    let errors: Vec<String> = cedar
        .diagnostics()
        .errors()
        .map(ToString::to_string)
        .collect();
    if !errors.is_empty() {
        return Some(format!("Cedar's evaluation errors: {errors:?}"));
    }
    if ours.allowed != (cedar.decision() == CedarDecision::Allow) {
        return Some(format!(
            "ours {:?}, Cedar {:?}",
            ours.effect,
            cedar.decision()
        ));
    }
    let mut inactive = false;
    let mut reasons: BTreeMap<Effect, BTreeSet<(Uuid, usize)>> = BTreeMap::new();
    for id in cedar.diagnostics().reason() {
        match sources[id] {
            Source::Inactive => inactive = true,
            Source::Permission {
                policy,
                index,
                effect,
            } => {
                reasons.entry(effect).or_default().insert((policy, index));
            }
        }
    }
    let ours_of = |effect| -> BTreeSet<(Uuid, usize)> {
        ours.matches
            .iter()
            .filter(|found| found.effect == effect)
            .map(|found| (found.policy_id, found.permission))
            .collect()
    };
    let winning = |effect| -> Option<String> {
        let theirs = reasons.get(&effect).cloned().unwrap_or_default();
        let smallest = theirs.iter().map(|(policy, _)| *policy).min();
        if inactive
            || reasons.len() != 1
            || theirs != ours_of(effect)
            || smallest != ours.decided_by
        {
            Some(format!(
                "ours {:?} by {:?} with {:?}; Cedar's reasons {reasons:?} (inactive forbid: {inactive})",
                ours.effect,
                ours.decided_by,
                ours_of(effect)
            ))
        } else {
            None
        }
    };
    match ours.effect {
        DecisionEffect::UserInactive if inactive => None,
        DecisionEffect::UserInactive => Some("ours user-inactive, Cedar without the forbid".into()),
        DecisionEffect::Deny => winning(Effect::Deny),
        DecisionEffect::Allow => winning(Effect::Allow),
        DecisionEffect::DefaultDeny if !inactive && reasons.is_empty() => None,
        DecisionEffect::DefaultDeny => Some(format!(
            "ours default-deny; Cedar's reasons {reasons:?} (inactive forbid: {inactive})"
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Figures.

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The `q` quantile (nearest rank) of `samples`, in nanoseconds.
fn quantile(samples: &[u64], q: f64) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median_of<T>(runs: usize, mut run: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(run());
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[runs / 2]
}

/// One check of ours, timed alone.
fn time_ours(compiled: &Compiled, user: &User, ask: &Ask) -> u64 {
    let subject = user.subject();
    let start = Instant::now();
    let decision = compiled.check(
        black_box(&subject),
        black_box(&ask.action),
        black_box(&ask.resource),
        false,
    );
    let took = start.elapsed();
    black_box(decision);
    nanos(took)
}

fn micros(ns: u64) -> String {
    format!("{:.2} µs", ns as f64 / 1_000.0)
}

fn main() {
    // Criterion's and cargo's arguments (`--bench`) are not ours: ignore them.
    let mut rng = Rng(SEED);
    let catalogue = catalogue();
    let users = users(&mut rng);
    let policies = policies(&mut rng, &users, &catalogue);
    let asks = requests(&mut rng, &users, &catalogue);
    let translated = translate(&policies);

    // The profile, counted.
    let active = policies.iter().filter(|(_, body)| body.active).count();
    let permissions: usize = policies.iter().map(|(_, b)| b.permissions.len()).sum();
    let denies = policies
        .iter()
        .flat_map(|(_, b)| &b.permissions)
        .filter(|p| p.effect == Effect::Deny)
        .count();
    let mut targets: BTreeMap<&str, usize> = BTreeMap::new();
    for target in policies.iter().flat_map(|(_, b)| &b.targets) {
        let form = match target {
            Target::RunUser(_) => "run_user",
            Target::Tag(_) => "tag",
            Target::AnyRunUser(_) => "any_run_user",
        };
        *targets.entry(form).or_default() += 1;
    }
    let mut forms: BTreeMap<&str, usize> = BTreeMap::new();
    for selector in policies
        .iter()
        .flat_map(|(_, b)| &b.permissions)
        .flat_map(|p| &p.resources)
    {
        let form = if selector.id.is_some() {
            "{type, id}"
        } else if selector.tag.is_some() {
            "{type, tag}"
        } else if selector.tag_match.is_some() {
            "{type, tag_match}"
        } else if selector.path_prefix.is_some() {
            "{type, path_prefix}"
        } else {
            "{type}"
        };
        *forms.entry(form).or_default() += 1;
    }
    println!(
        "profile: {} types, {USERS} users ({} inactive), {POLICIES} policies ({active} active), \
         {permissions} permissions ({denies} deny), {REQUESTS} requests; {} Cedar policies",
        catalogue.len(),
        users.iter().filter(|user| !user.active).count(),
        translated.len()
    );
    println!("targets: {targets:?}");
    println!("selectors: {forms:?}");

    let compiled = Compiled::compile(1, &policies);
    let cedar = Cedar::build(&translated, &users, &asks);

    // Same decisions, before any timing.
    let mut effects: BTreeMap<String, usize> = BTreeMap::new();
    let mut differences = Vec::new();
    for (n, ask) in asks.iter().enumerate() {
        let subject = users[ask.user].subject();
        let explained = compiled.check(&subject, &ask.action, &ask.resource, true);
        let plain = compiled.check(&subject, &ask.action, &ask.resource, false);
        *effects
            .entry(format!("{:?}", explained.effect))
            .or_default() += 1;
        if (plain.allowed, plain.effect, plain.decided_by)
            != (explained.allowed, explained.effect, explained.decided_by)
        {
            differences.push(format!(
                "request {n}: ours without explain {plain:?}, with it {explained:?}"
            ));
        }
        for (how, response) in [
            ("prebuilt", cedar.check(n)),
            ("built per check", cedar.check_building(ask)),
        ] {
            if let Some(why) = differs(&explained, &response, &cedar.sources) {
                differences.push(format!(
                    "request {n} (Cedar {how}): {why}\n    user {} {:?} active {}, {} on {:?}",
                    users[ask.user].uid,
                    users[ask.user].tags,
                    users[ask.user].active,
                    ask.action,
                    ask.resource
                ));
            }
        }
    }
    println!("decisions (ours, all equal to Cedar's): {effects:?}");
    if !differences.is_empty() {
        for difference in differences.iter().take(10) {
            eprintln!("{difference}");
        }
        panic!(
            "{} differences between our decisions and Cedar's (first ones above)",
            differences.len()
        );
    }

    // Compile times.
    let ours_compile = median_of(COMPILES, || Compiled::compile(1, &policies));
    let json: Vec<String> = policies
        .iter()
        .map(|(_, body)| serde_json::to_string(body).expect("serialises"))
        .collect();
    let ours_from_json = median_of(COMPILES, || {
        let bodies: Vec<(Uuid, PolicyBody)> = policies
            .iter()
            .zip(&json)
            .map(|((id, _), text)| (*id, serde_json::from_str(text).expect("reads back")))
            .collect();
        Compiled::compile(1, &bodies)
    });
    let cedar_compile = median_of(COMPILES, || compile_cedar(&translated));

    // The timer's own cost.
    let timer: Vec<u64> = (0..10_000)
        .map(|_| {
            let start = Instant::now();
            nanos(black_box(start).elapsed())
        })
        .collect();

    // Per check, interleaved.
    let mut ours = Vec::with_capacity(ROUNDS * REQUESTS);
    let mut theirs = Vec::with_capacity(ROUNDS * REQUESTS);
    let mut building = Vec::with_capacity(ROUNDS * REQUESTS);
    let mut active_samples = [Vec::new(), Vec::new(), Vec::new()];
    let started = Instant::now();
    for round in 0..ROUNDS {
        for (n, ask) in asks.iter().enumerate() {
            let user = &users[ask.user];
            let mut times = [0u64; 3];
            for k in 0..3 {
                let which = (n + round + k) % 3;
                times[which] = match which {
                    0 => time_ours(&compiled, user, ask),
                    1 => {
                        let start = Instant::now();
                        let response = cedar.check(black_box(n));
                        let took = start.elapsed();
                        black_box(response);
                        nanos(took)
                    }
                    _ => {
                        let start = Instant::now();
                        let response = cedar.check_building(black_box(ask));
                        let took = start.elapsed();
                        black_box(response);
                        nanos(took)
                    }
                };
            }
            ours.push(times[0]);
            theirs.push(times[1]);
            building.push(times[2]);
            if user.active {
                for (samples, time) in active_samples.iter_mut().zip(times) {
                    samples.push(time);
                }
            }
        }
    }
    let interleaved = started.elapsed();

    // Ours per call again, without Cedar's calls in between (which leave the caches cold).
    let mut alone = Vec::with_capacity(ROUNDS * REQUESTS);
    let mut alone_active = Vec::new();
    for _ in 0..ROUNDS {
        for ask in &asks {
            let user = &users[ask.user];
            let took = time_ours(&compiled, user, ask);
            alone.push(took);
            if user.active {
                alone_active.push(took);
            }
        }
    }

    // Tight loops: the mean per check without a timer per call.
    let ours_loop = median_of(5, || {
        for ask in &asks {
            let subject = users[ask.user].subject();
            black_box(compiled.check(
                black_box(&subject),
                black_box(&ask.action),
                black_box(&ask.resource),
                false,
            ));
        }
    });
    let cedar_loop = median_of(1, || {
        for n in 0..asks.len() {
            black_box(cedar.check(black_box(n)));
        }
    });

    let row = |name: &str, samples: &[u64], active: &[u64], mean: Option<Duration>| {
        println!(
            "| {name} | {} | {} | {} | {} |",
            micros(quantile(samples, 0.5)),
            micros(quantile(samples, 0.9)),
            micros(quantile(active, 0.5)),
            mean.map_or("—".to_owned(), |mean| micros(
                nanos(mean) / REQUESTS as u64
            )),
        )
    };
    println!(
        "\nper check ({ROUNDS} rounds × {REQUESTS} requests interleaved, {:.1} s; timer alone: median {} ns):",
        interleaved.as_secs_f64(),
        quantile(&timer, 0.5)
    );
    println!("| engine | median | p90 | median, active users only | mean in a tight loop |");
    println!("| --- | --- | --- | --- | --- |");
    row("ours", &ours, &active_samples[0], Some(ours_loop));
    row(
        "ours, without Cedar's calls in between",
        &alone,
        &alone_active,
        None,
    );
    row("Cedar", &theirs, &active_samples[1], Some(cedar_loop));
    row(
        "Cedar, request built per check",
        &building,
        &active_samples[2],
        None,
    );
    let ratio = quantile(&ours, 0.5) as f64 / quantile(&theirs, 0.5) as f64;
    println!(
        "\nratio ours / Cedar: median {ratio:.4}, p90 {:.4}, active only {:.4}, tight-loop mean {:.4}",
        quantile(&ours, 0.9) as f64 / quantile(&theirs, 0.9) as f64,
        quantile(&active_samples[0], 0.5) as f64 / quantile(&active_samples[1], 0.5) as f64,
        ours_loop.as_secs_f64() / cedar_loop.as_secs_f64()
    );
    println!(
        "compile {POLICIES} policies (median of {COMPILES}): ours {:.2} ms (from JSON text {:.2} ms), \
         Cedar {:.2} ms ({} policies parsed and added); ratio ours / Cedar {:.4}",
        ours_compile.as_secs_f64() * 1e3,
        ours_from_json.as_secs_f64() * 1e3,
        cedar_compile.as_secs_f64() * 1e3,
        translated.len(),
        ours_compile.as_secs_f64() / cedar_compile.as_secs_f64()
    );
    assert!(
        ratio < 1.0,
        "issue 12: the median per check, ours / Cedar's, must stay below 1.0 (it is {ratio:.4})"
    );
}
