//! What a policy and a catalogue must be to be saved. DESIGN.md: a policy is saved only if it can
//! ever match, so everything that could never match is refused with `422`, naming the offending
//! JSON path exactly (`permissions[0].resources[1].type`), the first one found in document order
//! (the resources of a permission are checked before its actions, which are checked against them).
//!
//! Refused as inert:
//! - empty `targets`, `permissions`, `actions` or `resources`; `{"any_run_user": false}`;
//! - a resource type the catalogue lacks; an action none of the permission's resource types has
//!   (`permissions[0].actions[2]`); a resource whose type has none of the permission's actions
//!   (only possible when one permission mixes types);
//! - a tag (target or selector), a `tag_match` key, an `id` or a `path_prefix` that no subject or
//!   resource can carry: empty, longer than a run user's tag allows (key 1–64, value 1–256
//!   characters), with white space around it (run users' tags are stored trimmed), or with control
//!   or format characters (a value may hold line breaks and tabs, as a run user's may);
//! - a selector with more than one of `id`, `tag`, `tag_match`, `path_prefix`.
//!
//! Bounds (so that one policy stays a small item and a small part of the compiled set): a `name`
//! of 1–100 characters (`domain::validate::name`), at most [`MAX_TARGETS`] targets, [`MAX_PERMISSIONS`]
//! permissions, and per permission [`MAX_ACTIONS`] actions and [`MAX_RESOURCES`] resources; ids of
//! at most [`MAX_ID_CHARS`] and path prefixes of at most [`MAX_PATH_CHARS`] characters.
//! Repeated targets, actions or resources are redundant, not inert: they are accepted (and
//! counted once by the engine).
//!
//! A catalogue (`validate_catalogue`) has at most [`MAX_TYPES`] types, each with 1 to
//! [`MAX_TYPE_ACTIONS`] distinct actions; type and action names are 1–[`MAX_NAME_CHARS`]
//! characters of `[a-z0-9_-]`. Its paths are relative to the catalogue object (`device`,
//! `device[2]`). Replacing a catalogue is the caller's to guard: [`types_in_use`] names the types
//! stored policies (active or not: an inactive one may be switched back on) still use, so removing
//! one can be refused with `409`; validating each stored policy against the new catalogue also
//! catches a removed action.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::model::{Catalogue, Permission, PolicyBody, Selector, Target};
use crate::domain::records::Tag;
use crate::domain::run_users::fields;
use crate::domain::validate as text;
use crate::refusal::{Decided, Refusal};

pub const MAX_TARGETS: usize = 50;
pub const MAX_PERMISSIONS: usize = 50;
pub const MAX_ACTIONS: usize = 50;
pub const MAX_RESOURCES: usize = 50;
pub const MAX_ID_CHARS: usize = 256;
pub const MAX_PATH_CHARS: usize = 1024;
pub const MAX_TYPES: usize = 100;
pub const MAX_TYPE_ACTIONS: usize = 50;
/// Type and action names.
pub const MAX_NAME_CHARS: usize = 64;

/// A `run_user` target: the caller checks that the user exists and refuses an unknown one with
/// `422` at [`TargetedUser::field`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetedUser {
    /// The target's position in `targets`.
    pub index: usize,
    pub uid: Uuid,
}

impl TargetedUser {
    /// The path a refusal of this target names: `targets[3].run_user`.
    pub fn field(&self) -> String {
        format!("targets[{}].run_user", self.index)
    }
}

/// Checks `body` against `catalogue`; answers the run users its targets name (in target order, a
/// repeated user as often as it is named), for the caller to look up.
pub fn validate(body: &PolicyBody, catalogue: &Catalogue) -> Decided<Vec<TargetedUser>> {
    text::name("name", &body.name)?;
    let users = targets(&body.targets)?;
    bounded_list("permissions", body.permissions.len(), MAX_PERMISSIONS)?;
    for (i, permission) in body.permissions.iter().enumerate() {
        check_permission(&format!("permissions[{i}]"), permission, catalogue)?;
    }
    Ok(users)
}

/// Refuses an empty list or one longer than `max`.
fn bounded_list(field: &str, len: usize, max: usize) -> Decided<()> {
    if len == 0 {
        return Err(Refusal::invalid(
            field,
            "must not be empty: an empty list matches nothing",
        ));
    }
    if len > max {
        return Err(Refusal::invalid(
            field,
            format!("at most {max} are allowed"),
        ));
    }
    Ok(())
}

fn targets(targets: &[Target]) -> Decided<Vec<TargetedUser>> {
    bounded_list("targets", targets.len(), MAX_TARGETS)?;
    let mut users = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        match target {
            Target::RunUser(uid) => users.push(TargetedUser { index, uid: *uid }),
            Target::Tag(tag) => check_tag(&format!("targets[{index}].tag"), tag)?,
            Target::AnyRunUser(true) => {}
            Target::AnyRunUser(false) => {
                return Err(Refusal::invalid(
                    format!("targets[{index}].any_run_user"),
                    "must be true: `false` matches no one (remove the target instead)",
                ));
            }
        }
    }
    Ok(users)
}

fn check_permission(at: &str, permission: &Permission, catalogue: &Catalogue) -> Decided<()> {
    bounded_list(
        &format!("{at}.actions"),
        permission.actions.len(),
        MAX_ACTIONS,
    )?;
    bounded_list(
        &format!("{at}.resources"),
        permission.resources.len(),
        MAX_RESOURCES,
    )?;
    // Types first: the actions are checked against them.
    let mut types = Vec::with_capacity(permission.resources.len());
    for (j, selector) in permission.resources.iter().enumerate() {
        let actions = check_selector(&format!("{at}.resources[{j}]"), selector, catalogue)?;
        types.push((selector.kind.as_str(), actions));
    }
    for (k, action) in permission.actions.iter().enumerate() {
        if !types
            .iter()
            .any(|(_, actions)| actions.iter().any(|known| known == action))
        {
            let mut names: Vec<&str> = types.iter().map(|(kind, _)| *kind).collect();
            names.sort_unstable();
            names.dedup();
            return Err(Refusal::invalid(
                format!("{at}.actions[{k}]"),
                format!(
                    "`{action}` is not an action of {}",
                    names
                        .iter()
                        .map(|kind| format!("`{kind}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
    }
    // Only reachable when a permission mixes types: each must have one of its actions.
    for (j, (kind, actions)) in types.iter().enumerate() {
        if !permission
            .actions
            .iter()
            .any(|action| actions.contains(action))
        {
            return Err(Refusal::invalid(
                format!("{at}.resources[{j}].type"),
                format!("`{kind}` has none of this permission's actions"),
            ));
        }
    }
    Ok(())
}

/// Checks one selector; answers its type's actions.
fn check_selector<'c>(
    at: &str,
    selector: &Selector,
    catalogue: &'c Catalogue,
) -> Decided<&'c [String]> {
    let Some(actions) = catalogue.actions(&selector.kind) else {
        return Err(Refusal::invalid(
            format!("{at}.type"),
            format!(
                "`{}` is not a resource type of this profile (see /resource-types)",
                selector.kind
            ),
        ));
    };
    let qualifiers = [
        selector.id.is_some(),
        selector.tag.is_some(),
        selector.tag_match.is_some(),
        selector.path_prefix.is_some(),
    ];
    if qualifiers.iter().filter(|given| **given).count() > 1 {
        return Err(Refusal::invalid(
            at,
            "a selector takes at most one of `id`, `tag`, `tag_match` and `path_prefix`",
        ));
    }
    if let Some(id) = &selector.id {
        bounded_text(&format!("{at}.id"), id, MAX_ID_CHARS)?;
    }
    if let Some(tag) = &selector.tag {
        check_tag(&format!("{at}.tag"), tag)?;
    }
    if let Some(key) = &selector.tag_match {
        tag_key(&format!("{at}.tag_match"), key)?;
    }
    if let Some(prefix) = &selector.path_prefix {
        bounded_text(&format!("{at}.path_prefix"), prefix, MAX_PATH_CHARS)?;
    }
    Ok(actions)
}

/// An id or a path prefix: not empty, at most `max` characters (anything else may be an
/// application's id or path).
fn bounded_text(field: &str, value: &str, max: usize) -> Decided<()> {
    if value.is_empty() {
        return Err(Refusal::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Refusal::invalid(
            field,
            format!("at most {max} characters are allowed"),
        ));
    }
    Ok(())
}

fn check_tag(at: &str, tag: &Tag) -> Decided<()> {
    tag_key(&format!("{at}.key"), &tag.key)?;
    let field = format!("{at}.value");
    as_stored(&field, &tag.value)?;
    fields::stored_tag_value(&field, &tag.value)
}

/// A tag key as a run user can carry one (`run_users::fields`).
fn tag_key(field: &str, key: &str) -> Decided<()> {
    as_stored(field, key)?;
    fields::stored_tag_key(field, key)
}

/// Tags are stored trimmed: a key or value with white space at either end would never match.
fn as_stored(field: &str, value: &str) -> Decided<()> {
    if value.trim() != value {
        return Err(Refusal::invalid(
            field,
            "must not start or end with white space (tags are stored trimmed, so it would never match)",
        ));
    }
    Ok(())
}

/// Checks a catalogue as a profile may save it.
pub fn validate_catalogue(catalogue: &Catalogue) -> Decided<()> {
    if catalogue.len() > MAX_TYPES {
        return Err(Refusal::invalid(
            "body",
            format!("at most {MAX_TYPES} resource types are allowed"),
        ));
    }
    for (kind, actions) in catalogue.types() {
        catalogue_name(kind, kind)?;
        if actions.is_empty() || actions.len() > MAX_TYPE_ACTIONS {
            return Err(Refusal::invalid(
                kind,
                format!("a resource type has 1 to {MAX_TYPE_ACTIONS} actions"),
            ));
        }
        for (k, action) in actions.iter().enumerate() {
            let field = format!("{kind}[{k}]");
            catalogue_name(&field, action)?;
            if actions[..k].contains(action) {
                return Err(Refusal::invalid(field, format!("`{action}` appears twice")));
            }
        }
    }
    Ok(())
}

/// A type or action name: 1 to 64 characters of `[a-z0-9_-]`.
fn catalogue_name(field: &str, name: &str) -> Decided<()> {
    if name.is_empty() || name.len() > MAX_NAME_CHARS {
        return Err(Refusal::invalid(
            field,
            format!("a name has 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(Refusal::invalid(
            field,
            "a name holds only lower-case letters, digits, `_` and `-`",
        ));
    }
    Ok(())
}

/// The resource types `policies` name (active or not), for refusing a catalogue that drops one.
pub fn types_in_use<'p>(policies: impl IntoIterator<Item = &'p PolicyBody>) -> BTreeSet<String> {
    policies
        .into_iter()
        .flat_map(|policy| &policy.permissions)
        .flat_map(|permission| &permission.resources)
        .map(|selector| selector.kind.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(outcome: Decided<()>) -> String {
        match outcome {
            Err(Refusal::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn tag_text_follows_a_run_users_tag_rules() {
        assert_eq!(tag_key("k", "plan"), Ok(()));
        assert_eq!(tag_key("k", &"k".repeat(64)), Ok(()));
        assert_eq!(field(tag_key("k", &"k".repeat(65))), "k");
        assert_eq!(field(tag_key("k", "")), "k");
        assert_eq!(field(tag_key("k", "plan ")), "k");
        assert_eq!(field(tag_key("k", "pl\nan")), "k");
        let value = |text: &str| {
            check_tag(
                "t",
                &Tag {
                    key: "k".into(),
                    value: text.into(),
                },
            )
        };
        assert_eq!(value("two\nlines\tand a tab"), Ok(()));
        assert_eq!(field(value("bell\u{7}")), "t.value");
        assert_eq!(field(value("zero\u{200b}width")), "t.value");
        assert_eq!(field(value(&"é".repeat(257))), "t.value");
        assert_eq!(value(&"é".repeat(256)), Ok(()), "characters, not bytes");
    }

    #[test]
    fn catalogue_names_are_short_lower_case_words() {
        assert_eq!(catalogue_name("n", "device-2_b"), Ok(()));
        assert_eq!(field(catalogue_name("n", "Device")), "n");
        assert_eq!(field(catalogue_name("n", "dé")), "n");
        assert_eq!(field(catalogue_name("n", &"a".repeat(65))), "n");
    }
}
