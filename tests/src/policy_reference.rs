//! The policy check and the per-user explanation written the plainest way, to test the compiled
//! engine (`shared::domain::policies::engine`) against: every policy and every permission is
//! looked at, in the order the caller gave them, and nothing is indexed. It shares the engine's
//! data types (the model, `Decision`, `Match`, `Applied`) but none of its code.
//!
//! The rules, from DESIGN.md and the engine's documented choices:
//! - an inactive run user: `user-inactive`, nothing evaluated; inactive policies never count;
//! - a permission matches when its policy targets the subject, it lists the action, and one of its
//!   selectors (of the resource's type) holds; a selector holds when every qualifier it has holds;
//! - `run_user` targets only that run user; `tag` any subject carrying the tag; `any_run_user:
//!   true` every run user (never a bare tag set);
//! - tags are compared as sets (a key may repeat on a bare subject or a resource);
//! - any matching deny wins; else any matching allow; else `default-deny`; `decided_by` is the
//!   smallest policy id among the winning effect's matches.

use std::collections::BTreeSet;

use shared::domain::policies::{
    Applied, Decision, DecisionEffect, Effect, Match, PolicyBody, ResourceRef, Selector, Subject,
    Target,
};
use shared::domain::records::Tag;
use uuid::Uuid;

/// The check: what the engine's `Compiled::check(subject, action, resource, true)` must answer.
pub fn check(
    policies: &[(Uuid, PolicyBody)],
    subject: &Subject,
    action: &str,
    resource: &ResourceRef,
) -> Decision {
    if let Subject::RunUser { active: false, .. } = subject {
        return Decision {
            allowed: false,
            effect: DecisionEffect::UserInactive,
            decided_by: None,
            matches: Vec::new(),
        };
    }
    let mut matches = Vec::new();
    for (id, policy) in policies {
        if !policy.active {
            continue;
        }
        if !is_targeted(policy, subject) {
            continue;
        }
        for (index, permission) in policy.permissions.iter().enumerate() {
            if !permission.actions.iter().any(|listed| listed == action) {
                continue;
            }
            let selected = permission
                .resources
                .iter()
                .any(|selector| selects(selector, subject.tags(), resource));
            if selected {
                matches.push(Match {
                    policy_id: *id,
                    policy_name: policy.name.clone(),
                    permission: index,
                    effect: permission.effect,
                });
            }
        }
    }
    matches.sort_by_key(|found| (found.policy_id, found.permission));

    let mut smallest_deny: Option<Uuid> = None;
    let mut smallest_allow: Option<Uuid> = None;
    for found in &matches {
        let slot = match found.effect {
            Effect::Deny => &mut smallest_deny,
            Effect::Allow => &mut smallest_allow,
        };
        if slot.is_none_or(|smallest| found.policy_id < smallest) {
            *slot = Some(found.policy_id);
        }
    }
    let (allowed, effect, decided_by) = if smallest_deny.is_some() {
        (false, DecisionEffect::Deny, smallest_deny)
    } else if smallest_allow.is_some() {
        (true, DecisionEffect::Allow, smallest_allow)
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

/// What the engine's `Compiled::explain_user(user)` must answer.
pub fn explain_user(policies: &[(Uuid, PolicyBody)], user: &Subject) -> Vec<Applied> {
    let mut applied = Vec::new();
    for (id, policy) in policies {
        if !policy.active || !is_targeted(policy, user) {
            continue;
        }
        for (index, permission) in policy.permissions.iter().enumerate() {
            let mut resources = Vec::new();
            for selector in &permission.resources {
                match &selector.tag_match {
                    None => resources.push(selector.clone()),
                    Some(key) => {
                        let values: BTreeSet<String> = user
                            .tags()
                            .iter()
                            .filter(|tag| tag.key == *key)
                            .map(|tag| tag.value.clone())
                            .collect();
                        for value in values {
                            let mut resolved = selector.clone();
                            resolved.tag_match = None;
                            resolved.tag = Some(Tag {
                                key: key.clone(),
                                value,
                            });
                            resources.push(resolved);
                        }
                    }
                }
            }
            if resources.is_empty() {
                continue;
            }
            applied.push(Applied {
                policy_id: *id,
                policy_name: policy.name.clone(),
                permission: index,
                effect: permission.effect,
                actions: permission.actions.clone(),
                resources,
                overrides: false,
            });
        }
    }
    applied.sort_by_key(|entry| (entry.policy_id, entry.permission));

    let overrides: Vec<bool> = applied
        .iter()
        .map(|deny| {
            deny.effect == Effect::Deny
                && applied.iter().any(|allow| {
                    allow.effect == Effect::Allow && shares_type_and_action(deny, allow)
                })
        })
        .collect();
    for (entry, overrides) in applied.iter_mut().zip(overrides) {
        entry.overrides = overrides;
    }
    applied
}

fn shares_type_and_action(a: &Applied, b: &Applied) -> bool {
    a.resources.iter().any(|x| {
        b.resources
            .iter()
            .any(|y| x.kind == y.kind && a.actions.iter().any(|action| b.actions.contains(action)))
    })
}

fn is_targeted(policy: &PolicyBody, subject: &Subject) -> bool {
    policy.targets.iter().any(|target| match target {
        Target::RunUser(uid) => match subject {
            Subject::RunUser { uid: theirs, .. } => theirs == uid,
            Subject::Tags(_) => false,
        },
        Target::Tag(tag) => subject.tags().contains(tag),
        Target::AnyRunUser(true) => matches!(subject, Subject::RunUser { .. }),
        Target::AnyRunUser(false) => false,
    })
}

fn selects(selector: &Selector, subject_tags: &[Tag], resource: &ResourceRef) -> bool {
    if selector.kind != resource.kind {
        return false;
    }
    if let Some(id) = &selector.id
        && resource.id.as_ref() != Some(id)
    {
        return false;
    }
    if let Some(tag) = &selector.tag
        && !resource.tags.contains(tag)
    {
        return false;
    }
    if let Some(key) = &selector.tag_match {
        let mut equal = false;
        for mine in subject_tags.iter().filter(|tag| tag.key == *key) {
            for theirs in resource.tags.iter().filter(|tag| tag.key == *key) {
                if mine.value == theirs.value {
                    equal = true;
                }
            }
        }
        if !equal {
            return false;
        }
    }
    if let Some(prefix) = &selector.path_prefix {
        match &resource.path {
            Some(path) if path.starts_with(prefix.as_str()) => {}
            _ => return false,
        }
    }
    true
}
