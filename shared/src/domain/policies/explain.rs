//! What applies to one user: every permission of an active policy that targets them, with
//! `tag_match` resolved to their values, for `GET …/run/users/{uid}/permissions`.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::engine::{Compiled, carries};
use super::model::{Effect, Selector, Subject, Target};
use crate::domain::records::Tag;

/// One permission that applies to a user (`Compiled::explain_user`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Applied {
    pub policy_id: Uuid,
    pub policy_name: String,
    /// The permission's index in the policy's `permissions`.
    pub permission: usize,
    pub effect: Effect,
    pub actions: Vec<String>,
    /// The selectors, with `tag_match: K` resolved to `tag: {K, <the user's value>}`.
    pub resources: Vec<Selector>,
    /// A deny that shares a resource type and an action with an allow listed beside it, so it may
    /// override that allow (selectors are not intersected: it may also select other resources).
    pub overrides: bool,
}

impl Compiled {
    /// Every permission of an active policy that targets `user` (by its id, one of its tags, or
    /// `any_run_user`), by policy id then index, whether or not the user is active (a check of an
    /// inactive user answers `user-inactive` regardless; the caller shows `active` beside this).
    ///
    /// `tag_match: K` selectors come out as `tag: {K, value}` for the user's value of `K` (one per
    /// value for a bare subject repeating `K`); when the user lacks `K` the selector can never
    /// match them and is left out, and a permission left without selectors is left out whole.
    pub fn explain_user(&self, user: &Subject) -> Vec<Applied> {
        let tags = user.tags();
        let mut applied = Vec::new();
        for policy in &self.policies {
            if !policy
                .body
                .targets
                .iter()
                .any(|target| targets(target, user))
            {
                continue;
            }
            for (index, permission) in policy.body.permissions.iter().enumerate() {
                let resources: Vec<Selector> = permission
                    .resources
                    .iter()
                    .flat_map(|selector| resolve(selector, tags))
                    .collect();
                if resources.is_empty() {
                    continue;
                }
                applied.push(Applied {
                    policy_id: policy.id,
                    policy_name: policy.body.name.clone(),
                    permission: index,
                    effect: permission.effect,
                    actions: permission.actions.clone(),
                    resources,
                    overrides: false,
                });
            }
        }
        let allowed: HashSet<(&str, &str)> = applied
            .iter()
            .filter(|entry| entry.effect == Effect::Allow)
            .flat_map(pairs)
            .collect();
        let overriding: Vec<bool> = applied
            .iter()
            .map(|entry| {
                entry.effect == Effect::Deny && pairs(entry).any(|pair| allowed.contains(&pair))
            })
            .collect();
        for (entry, overrides) in applied.iter_mut().zip(overriding) {
            entry.overrides = overrides;
        }
        applied
    }
}

/// Whether `target` names `subject`.
fn targets(target: &Target, subject: &Subject) -> bool {
    match (target, subject) {
        (Target::RunUser(uid), Subject::RunUser { uid: theirs, .. }) => uid == theirs,
        (Target::RunUser(_), Subject::Tags(_)) => false,
        (Target::Tag(tag), subject) => carries(subject.tags(), &tag.key, &tag.value),
        (Target::AnyRunUser(any), Subject::RunUser { .. }) => *any,
        (Target::AnyRunUser(_), Subject::Tags(_)) => false,
    }
}

/// `selector` as it applies to a subject with `tags`: `tag_match` resolved to each of its values
/// of the key (none: the selector is left out).
fn resolve(selector: &Selector, tags: &[Tag]) -> Vec<Selector> {
    let Some(key) = &selector.tag_match else {
        return vec![selector.clone()];
    };
    let values: BTreeSet<&str> = tags
        .iter()
        .filter(|tag| tag.key == *key)
        .map(|tag| tag.value.as_str())
        .collect();
    values
        .into_iter()
        .map(|value| Selector {
            tag: Some(Tag {
                key: key.clone(),
                value: value.to_owned(),
            }),
            tag_match: None,
            ..selector.clone()
        })
        .collect()
}

/// The (resource type, action) pairs an applied permission names.
fn pairs(entry: &Applied) -> impl Iterator<Item = (&str, &str)> {
    entry.resources.iter().flat_map(|selector| {
        entry
            .actions
            .iter()
            .map(|action| (selector.kind.as_str(), action.as_str()))
    })
}
