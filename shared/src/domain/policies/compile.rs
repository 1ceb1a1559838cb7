//! Building a [`Compiled`] policy set from the policies' bodies.
//!
//! Permissions are numbered in (policy id, index in the policy) order, so the smallest number is
//! the smallest policy. They are grouped by who they target (every run user, one user id, one tag
//! key and value); each group holds, per (resource type, action) "slot", the permission numbers that
//! name the pair, denies then allows, each in ascending order, with the selectors of that type.
//! A check finds the slot (two hash look-ups: an unknown pair is `default-deny` at once), the
//! subject's groups (every run user, its id, each of its tags), and in each group walks the
//! denies until the first match or until none could beat the best deny found so far; the allows
//! only while no deny matched. Nothing is allocated unless the caller asks for an explanation.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use super::engine::{Compiled, Condition, Entry, Group, Numbered, Policy, Run};
use super::model::{Effect, Permission, PolicyBody, Target};

/// A permission placed in a target's group, before the layout: ordered by slot, then denies
/// before allows, then by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Placed {
    slot: usize,
    allow: bool,
    permission: usize,
    start: usize,
    end: usize,
}

/// Whom a group is for. Ordered (any run user, users, tags) so that equal inputs lay out equal
/// tables.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anyone,
    User(Uuid),
    Tag(String, String),
}

impl Compiled {
    /// Compiles the active ones of `policies` (`(policy id, body)`; ids are unique, as the
    /// store's keys are) under the policy-set `version`.
    pub fn compile(version: i64, policies: &[(Uuid, PolicyBody)]) -> Compiled {
        let mut active: Vec<Policy> = policies
            .iter()
            .filter(|(_, body)| body.active)
            .map(|(id, body)| Policy {
                id: *id,
                body: body.clone(),
            })
            .collect();
        active.sort_by_key(|policy| policy.id);

        let mut slots: HashMap<Box<str>, HashMap<Box<str>, usize>> = HashMap::new();
        let mut slot_count = 0;
        let mut permissions = Vec::new();
        let mut conditions = Vec::new();
        let mut pending: BTreeMap<Who, Vec<Placed>> = BTreeMap::new();
        for (rank, policy) in active.iter().enumerate() {
            let whos: BTreeSet<Who> = policy.body.targets.iter().filter_map(who).collect();
            for (index, permission) in policy.body.permissions.iter().enumerate() {
                let number = permissions.len();
                permissions.push(Numbered {
                    policy: rank,
                    index,
                    effect: permission.effect,
                });
                let deny = permission.effect == Effect::Deny;
                let actions: BTreeSet<&str> =
                    permission.actions.iter().map(String::as_str).collect();
                let types: BTreeSet<&str> = permission
                    .resources
                    .iter()
                    .map(|selector| selector.kind.as_str())
                    .collect();
                for kind in types {
                    let (start, end) = push_conditions(&mut conditions, permission, kind);
                    for action in &actions {
                        let slot = *slots
                            .entry(kind.into())
                            .or_default()
                            .entry((*action).into())
                            .or_insert_with(|| {
                                slot_count += 1;
                                slot_count - 1
                            });
                        for who in &whos {
                            pending.entry(who.clone()).or_default().push(Placed {
                                slot,
                                allow: !deny,
                                permission: number,
                                start,
                                end,
                            });
                        }
                    }
                }
            }
        }

        let mut entries = Vec::new();
        let mut lay_out = |mut items: Vec<Placed>| {
            items.sort_unstable();
            let mut runs: Vec<Run> = Vec::new();
            for Placed {
                slot,
                allow,
                permission,
                start,
                end,
            } in items
            {
                let at = entries.len();
                entries.push(Entry {
                    permission,
                    start,
                    end,
                });
                match runs.last_mut() {
                    Some(run) if run.slot == slot => {
                        run.end = at + 1;
                        if !allow {
                            run.split = at + 1;
                        }
                    }
                    _ => runs.push(Run {
                        slot,
                        start: at,
                        split: if allow { at } else { at + 1 },
                        end: at + 1,
                    }),
                }
            }
            Group { runs }
        };
        let mut anyone = Group::default();
        let mut users = HashMap::new();
        let mut tags: HashMap<Box<str>, HashMap<Box<str>, Group>> = HashMap::new();
        for (who, items) in pending {
            let group = lay_out(items);
            match who {
                Who::Anyone => anyone = group,
                Who::User(uid) => {
                    users.insert(uid, group);
                }
                Who::Tag(key, value) => {
                    tags.entry(key.into())
                        .or_default()
                        .insert(value.into(), group);
                }
            }
        }

        Compiled {
            version,
            policies: active,
            permissions,
            slots,
            anyone,
            users,
            tags,
            entries,
            conditions,
        }
    }
}

/// Whom a target names; `any_run_user: false` names no one.
fn who(target: &Target) -> Option<Who> {
    match target {
        Target::RunUser(uid) => Some(Who::User(*uid)),
        Target::Tag(tag) => Some(Who::Tag(tag.key.clone(), tag.value.clone())),
        Target::AnyRunUser(true) => Some(Who::Anyone),
        Target::AnyRunUser(false) => None,
    }
}

/// Appends the conditions of `permission`'s selectors of type `kind`; answers their range. A
/// selector of the whole type makes the others redundant: it alone is kept.
fn push_conditions(
    conditions: &mut Vec<Condition>,
    permission: &Permission,
    kind: &str,
) -> (usize, usize) {
    let start = conditions.len();
    let of_kind: Vec<Condition> = permission
        .resources
        .iter()
        .filter(|selector| selector.kind == kind)
        .map(|selector| Condition {
            id: selector.id.as_deref().map(Into::into),
            tag: selector
                .tag
                .as_ref()
                .map(|tag| (tag.key.as_str().into(), tag.value.as_str().into())),
            tag_match: selector.tag_match.as_deref().map(Into::into),
            path_prefix: selector.path_prefix.as_deref().map(Into::into),
        })
        .collect();
    if of_kind.contains(&Condition::default()) {
        conditions.push(Condition::default());
    } else {
        for condition in of_kind {
            if !conditions[start..].contains(&condition) {
                conditions.push(condition);
            }
        }
    }
    (start, conditions.len())
}

#[cfg(test)]
mod tests {
    use super::super::model::Selector;
    use super::*;
    use crate::domain::records::Tag;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    fn permission(effect: Effect, actions: &[&str], resources: Vec<Selector>) -> Permission {
        Permission {
            effect,
            actions: actions.iter().map(|action| (*action).to_owned()).collect(),
            resources,
        }
    }

    #[test]
    fn repeats_are_laid_out_once_and_a_whole_type_absorbs_its_narrower_selectors() {
        let one = Selector {
            id: Some("1".into()),
            ..Selector::of("device")
        };
        let body = PolicyBody {
            name: "repeats".into(),
            active: true,
            targets: vec![
                Target::AnyRunUser(true),
                Target::AnyRunUser(true),
                Target::RunUser(Uuid::from_u128(1)),
                Target::Tag(tag("team", "eng")),
                Target::Tag(tag("team", "eng")),
                Target::AnyRunUser(false),
            ],
            permissions: vec![permission(
                Effect::Allow,
                &["edit", "edit", "access"],
                vec![one.clone(), Selector::of("device"), one],
            )],
        };
        let compiled = Compiled::compile(3, &[(Uuid::from_u128(9), body)]);
        assert_eq!(compiled.conditions, vec![Condition::default()]);
        // Three targets (any run user, the user, the tag) × two slots (device edit, access).
        assert_eq!(compiled.entries.len(), 6);
        assert_eq!(compiled.anyone.runs.len(), 2);
        assert_eq!(compiled.users.len(), 1);
        assert_eq!(compiled.tags.len(), 1);
    }

    #[test]
    fn a_run_holds_its_denies_then_its_allows_each_by_number() {
        let everyone = |effect| PolicyBody {
            name: "p".into(),
            active: true,
            targets: vec![Target::AnyRunUser(true)],
            permissions: vec![permission(effect, &["edit"], vec![Selector::of("device")])],
        };
        let compiled = Compiled::compile(
            1,
            &[
                (Uuid::from_u128(4), everyone(Effect::Allow)),
                (Uuid::from_u128(3), everyone(Effect::Deny)),
                (Uuid::from_u128(2), everyone(Effect::Allow)),
                (Uuid::from_u128(1), everyone(Effect::Deny)),
            ],
        );
        let [run] = compiled.anyone.runs[..] else {
            panic!("one slot, one run: {:?}", compiled.anyone.runs);
        };
        let numbers = |from: usize, to: usize| -> Vec<usize> {
            compiled.entries[from..to]
                .iter()
                .map(|entry| entry.permission)
                .collect()
        };
        // Numbered by policy id: 1 → 0, 2 → 1, 3 → 2, 4 → 3.
        assert_eq!(numbers(run.start, run.split), vec![0, 2]);
        assert_eq!(numbers(run.split, run.end), vec![1, 3]);
    }
}
