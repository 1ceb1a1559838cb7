//! A profile's policy set, compiled for checks. Built once per policy-set version and cached by
//! the caller (DESIGN.md, "Speed"); a check then reads only permissions that could match.
//!
//! ## Rules
//! - An inactive run user is `user-inactive`: nothing else is evaluated.
//! - Inactive policies are left out when compiling.
//! - Any matching deny wins over every allow, whatever the order; without a matching deny, a
//!   matching allow allows; with neither, `default-deny`. `decided_by` is the deciding policy:
//!   the one with the smallest id among the matching denies (or, without one, among the matching
//!   allows), so the answer does not depend on the order policies were stored in.
//!
//! ## Who a policy targets
//! - `run_user`: that run user only. A bare tag subject never matches it.
//! - `tag`: any subject carrying that tag (key and value equal), run user or bare tag set.
//! - `any_run_user`: every run-user subject, but not a bare tag subject: a tag set describes
//!   "anyone with these tags", not a run user, and a policy for every run user should not open
//!   resources to callers that only claim tags. (`{"any_run_user": false}` matches no one; it is
//!   refused when saved.)
//!
//! ## Which resources a selector selects
//! All comparisons are exact and case-sensitive.
//! - `{type}`: every resource of that type; the other forms also require the type.
//! - `{type, id}`: a resource with that id (a resource without an id never matches).
//! - `{type, tag}`: a resource carrying that tag.
//! - `{type, tag_match: K}`: a resource whose tag `K` equals the subject's tag `K`; both must carry
//!   `K`.
//! - `{type, path_prefix}`: a resource whose path starts with the prefix, as a plain string
//!   prefix: `/a` selects `/a/b` and also `/ab`; write `/a/` to mean a folder.
//!
//! A permission applies to a resource when one of its selectors selects it and it lists the action.
//! A saved selector has at most one qualifier; an unsaved one with several is read as their
//! conjunction, so every body has a defined meaning.
//!
//! Tags are compared as sets: a bare tag subject (or a resource) may carry one key several times
//! (a run user cannot), and then each of its values counts: it matches a `tag` target or selector
//! naming any of them, and `tag_match: K` holds when some value of the subject's `K` equals some
//! value of the resource's `K`. Deterministic, and independent of the tags' order.
//!
//! ## Where things are
//! The types and the check are here; `compile` builds the tables (and documents their layout);
//! `explain` answers what applies to one user.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{Effect, PolicyBody, ResourceRef, Subject};
use crate::domain::records::Tag;

/// The answer to a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    pub allowed: bool,
    pub effect: DecisionEffect,
    /// The deciding policy; `None` for `default-deny` and `user-inactive`.
    pub decided_by: Option<Uuid>,
    /// Only when asked to explain: every matching permission, by policy id then index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<Match>,
}

/// Why a check decided as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionEffect {
    Allow,
    Deny,
    DefaultDeny,
    UserInactive,
}

/// One permission that matched a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Match {
    pub policy_id: Uuid,
    pub policy_name: String,
    /// The permission's index in the policy's `permissions`.
    pub permission: usize,
    pub effect: Effect,
}

/// A policy set ready for checks.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub(super) version: i64,
    /// The active policies, by id.
    pub(super) policies: Vec<Policy>,
    /// Every permission of those, numbered in (policy id, index) order.
    pub(super) permissions: Vec<Numbered>,
    /// Resource type → action → slot.
    pub(super) slots: HashMap<Box<str>, HashMap<Box<str>, usize>>,
    /// Permissions of `any_run_user` policies.
    pub(super) anyone: Group,
    /// Permissions of policies naming a run user, by its id.
    pub(super) users: HashMap<Uuid, Group>,
    /// Permissions of policies naming a tag, by key then value.
    pub(super) tags: HashMap<Box<str>, HashMap<Box<str>, Group>>,
    /// The groups' entries, each group's runs contiguous.
    pub(super) entries: Vec<Entry>,
    /// The entries' selectors.
    pub(super) conditions: Vec<Condition>,
}

/// An active policy as it was given.
#[derive(Clone, Debug)]
pub(super) struct Policy {
    pub(super) id: Uuid,
    pub(super) body: PolicyBody,
}

/// A numbered permission: its policy (a position in `policies`), its index there, its effect.
#[derive(Clone, Copy, Debug)]
pub(super) struct Numbered {
    pub(super) policy: usize,
    pub(super) index: usize,
    pub(super) effect: Effect,
}

/// One target's permissions: per slot, a run of entries (ascending slots).
#[derive(Clone, Debug, Default)]
pub(super) struct Group {
    pub(super) runs: Vec<Run>,
}

/// `entries[start..split]` deny and `entries[split..end]` allow the slot, each ascending.
#[derive(Clone, Copy, Debug)]
pub(super) struct Run {
    pub(super) slot: usize,
    pub(super) start: usize,
    pub(super) split: usize,
    pub(super) end: usize,
}

/// A permission in a run: it applies when one of `conditions[start..end]` holds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    pub(super) permission: usize,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// A selector without its type (the slot has it): every qualifier given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Condition {
    pub(super) id: Option<Box<str>>,
    pub(super) tag: Option<(Box<str>, Box<str>)>,
    pub(super) tag_match: Option<Box<str>>,
    pub(super) path_prefix: Option<Box<str>>,
}

/// No permission found yet.
const NONE: usize = usize::MAX;

impl Compiled {
    /// The policy-set version this was compiled from.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// May `subject` do `action` on `resource`? With `explain`, the answer lists every matching
    /// permission.
    pub fn check(
        &self,
        subject: &Subject,
        action: &str,
        resource: &ResourceRef,
        explain: bool,
    ) -> Decision {
        if let Subject::RunUser { active: false, .. } = subject {
            return Decision {
                allowed: false,
                effect: DecisionEffect::UserInactive,
                decided_by: None,
                matches: Vec::new(),
            };
        }
        let slot = self
            .slots
            .get(resource.kind.as_str())
            .and_then(|actions| actions.get(action));
        let Some(&slot) = slot else {
            return self.decide(NONE, NONE, Vec::new());
        };
        let tags = subject.tags();
        if explain {
            let mut matched = Vec::new();
            for run in self.runs(subject, slot) {
                for entry in &self.entries[run.start..run.end] {
                    if self.applies(entry, tags, resource) {
                        matched.push(entry.permission);
                    }
                }
            }
            matched.sort_unstable();
            matched.dedup();
            let first = |effect| {
                matched
                    .iter()
                    .copied()
                    .find(|number| self.permissions[*number].effect == effect)
                    .unwrap_or(NONE)
            };
            let (deny, allow) = (first(Effect::Deny), first(Effect::Allow));
            return self.decide(deny, allow, matched);
        }
        let (mut deny, mut allow) = (NONE, NONE);
        for run in self.runs(subject, slot) {
            deny = self.first_match(&self.entries[run.start..run.split], deny, tags, resource);
            if deny == NONE {
                allow = self.first_match(&self.entries[run.split..run.end], allow, tags, resource);
            }
        }
        self.decide(deny, allow, Vec::new())
    }

    /// The runs of `slot` in every group `subject` belongs to. A group may come twice (a bare
    /// subject repeating a tag); the callers take a minimum or deduplicate.
    fn runs<'s>(&'s self, subject: &'s Subject, slot: usize) -> impl Iterator<Item = Run> + 's {
        let (anyone, user) = match subject {
            Subject::RunUser { uid, .. } => (Some(&self.anyone), self.users.get(uid)),
            Subject::Tags(_) => (None, None),
        };
        let by_tag = subject.tags().iter().filter_map(|tag| {
            self.tags
                .get(tag.key.as_str())
                .and_then(|values| values.get(tag.value.as_str()))
        });
        anyone
            .into_iter()
            .chain(user)
            .chain(by_tag)
            .filter_map(move |group| {
                group
                    .runs
                    .binary_search_by_key(&slot, |run| run.slot)
                    .ok()
                    .map(|at| group.runs[at])
            })
    }

    /// The smallest permission of `entries` (ascending) below `best` that applies, else `best`.
    fn first_match(
        &self,
        entries: &[Entry],
        best: usize,
        tags: &[Tag],
        resource: &ResourceRef,
    ) -> usize {
        entries
            .iter()
            .take_while(|entry| entry.permission < best)
            .find(|entry| self.applies(entry, tags, resource))
            .map_or(best, |entry| entry.permission)
    }

    fn applies(&self, entry: &Entry, tags: &[Tag], resource: &ResourceRef) -> bool {
        self.conditions[entry.start..entry.end]
            .iter()
            .any(|condition| condition.holds(tags, resource))
    }

    /// The decision from the smallest matching deny and allow (`NONE` when none matched).
    fn decide(&self, deny: usize, allow: usize, matched: Vec<usize>) -> Decision {
        let matches = matched
            .into_iter()
            .map(|number| {
                let numbered = self.permissions[number];
                let policy = &self.policies[numbered.policy];
                Match {
                    policy_id: policy.id,
                    policy_name: policy.body.name.clone(),
                    permission: numbered.index,
                    effect: numbered.effect,
                }
            })
            .collect();
        let by = |number: usize| Some(self.policies[self.permissions[number].policy].id);
        let (allowed, effect, decided_by) = if deny != NONE {
            (false, DecisionEffect::Deny, by(deny))
        } else if allow != NONE {
            (true, DecisionEffect::Allow, by(allow))
        } else {
            (false, DecisionEffect::DefaultDeny, None)
        };
        Decision {
            allowed,
            effect,
            decided_by,
            matches,
        }
    }
}

impl Condition {
    /// Whether a resource (of the slot's type) satisfies every qualifier, for a subject with
    /// `tags`.
    fn holds(&self, tags: &[Tag], resource: &ResourceRef) -> bool {
        if let Some(id) = &self.id
            && resource.id.as_deref() != Some(&**id)
        {
            return false;
        }
        if let Some((key, value)) = &self.tag
            && !carries(&resource.tags, key, value)
        {
            return false;
        }
        if let Some(key) = &self.tag_match
            && !tags
                .iter()
                .any(|mine| mine.key == **key && carries(&resource.tags, key, &mine.value))
        {
            return false;
        }
        if let Some(prefix) = &self.path_prefix
            && !resource
                .path
                .as_deref()
                .is_some_and(|path| path.starts_with(&**prefix))
        {
            return false;
        }
        true
    }
}

pub(super) fn carries(tags: &[Tag], key: &str, value: &str) -> bool {
    tags.iter().any(|tag| tag.key == key && tag.value == value)
}
