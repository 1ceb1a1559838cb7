//! The policy language as clients write it (DESIGN.md, "Access policies and the policy check"):
//! the resource catalogue, a policy's body, and what a check asks about. Every type here reads and
//! writes exactly the JSON of DESIGN.md, and refuses unknown fields, so that a misspelt field is a
//! `422`, never a qualifier that silently does nothing.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::domain::records::{RunUserRecord, Tag};

/// A profile's resource types and the actions each has: `{"device": ["access", "edit"], …}`.
/// Types are kept in name order, each type's actions in the order the team gave them (so a `GET`
/// answers what the `PUT` said). A type named twice in one body is refused when it is read, not
/// silently replaced by the last one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Catalogue(BTreeMap<String, Vec<String>>);

impl Catalogue {
    /// A catalogue of these types and actions (checked by `validate::validate_catalogue`, not here).
    pub fn new(types: BTreeMap<String, Vec<String>>) -> Self {
        Catalogue(types)
    }

    /// The actions of `kind`, or `None` for a type the catalogue lacks.
    pub fn actions(&self, kind: &str) -> Option<&[String]> {
        self.0.get(kind).map(Vec::as_slice)
    }

    /// Whether `kind` is a type of the catalogue and has `action`.
    pub fn has_action(&self, kind: &str, action: &str) -> bool {
        self.actions(kind)
            .is_some_and(|actions| actions.iter().any(|known| known == action))
    }

    /// Every type with its actions, in name order.
    pub fn types(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0
            .iter()
            .map(|(kind, actions)| (kind.as_str(), actions.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// DESIGN.md's default: `device: [access, edit, delete]`, `dashboard: [access, edit]`,
/// `file: [read, write, delete]`, `analysis: [run]`.
impl Default for Catalogue {
    fn default() -> Self {
        let entry = |kind: &str, actions: &[&str]| {
            (
                kind.to_owned(),
                actions.iter().map(|action| (*action).to_owned()).collect(),
            )
        };
        Catalogue(BTreeMap::from([
            entry("device", &["access", "edit", "delete"]),
            entry("dashboard", &["access", "edit"]),
            entry("file", &["read", "write", "delete"]),
            entry("analysis", &["run"]),
        ]))
    }
}

/// Reads the map itself, refusing a type named twice (a plain map would keep the last one).
impl<'de> Deserialize<'de> for Catalogue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Types;

        impl<'de> Visitor<'de> for Types {
            type Value = Catalogue;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object of resource types, each with its list of actions")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Catalogue, M::Error> {
                let mut types = BTreeMap::new();
                while let Some((kind, actions)) = map.next_entry::<String, Vec<String>>()? {
                    if types.contains_key(&kind) {
                        return Err(serde::de::Error::custom(format!(
                            "the resource type `{kind}` appears twice"
                        )));
                    }
                    types.insert(kind, actions);
                }
                Ok(Catalogue(types))
            }
        }

        deserializer.deserialize_map(Types)
    }
}

/// A policy as the team writes it: who it is for, and what it allows or denies them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    pub name: String,
    /// An inactive policy is kept but never evaluated.
    #[serde(default = "active_by_default")]
    pub active: bool,
    pub targets: Vec<Target>,
    pub permissions: Vec<Permission>,
}

fn active_by_default() -> bool {
    true
}

/// Who a policy is for: `{"run_user": "<uid>"}`, `{"tag": {"key", "value"}}` (a subject carrying
/// that tag) or `{"any_run_user": true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    RunUser(Uuid),
    Tag(Tag),
    /// Only `true` is saved: `false` would match no one.
    AnyRunUser(bool),
}

/// Whether a permission grants or withholds.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

/// `{effect, actions, resources}`: the effect applies to each action on each selected resource
/// (of a type that has the action).
// Named apart from the API tokens' `Permission`: two schemas of one name get numbered in the
// order of the route table, and a route moved between functions swapped them once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PolicyPermission")]
pub struct Permission {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<Selector>,
}

/// Which resources of a type: all of them (`{type}`), or those with an id, carrying a tag,
/// whose tag `tag_match` equals the subject's tag of that key, or whose path starts with
/// `path_prefix`. At most one qualifier is saved (validation); the engine reads a selector as the
/// conjunction of the qualifiers it has, which is the same thing for a saved one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_match: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
}

impl Selector {
    /// Every resource of `kind`.
    pub fn of(kind: impl Into<String>) -> Self {
        Selector {
            kind: kind.into(),
            id: None,
            tag: None,
            tag_match: None,
            path_prefix: None,
        }
    }
}

/// The resource a check asks about: `{type, id?, tags?, path?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Who a check is about: a run user as stored (its id, tags and whether it is active), or any
/// subject described only by tags. Borrowed, so that a check copies nothing from the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject<'a> {
    RunUser {
        uid: Uuid,
        tags: &'a [Tag],
        active: bool,
    },
    /// A bare tag set: it may repeat a key (a run user's keys are unique).
    Tags(&'a [Tag]),
}

impl<'a> Subject<'a> {
    /// The subject's tags.
    pub fn tags(&self) -> &'a [Tag] {
        match *self {
            Subject::RunUser { tags, .. } | Subject::Tags(tags) => tags,
        }
    }
}

impl<'a> From<&'a RunUserRecord> for Subject<'a> {
    fn from(user: &'a RunUserRecord) -> Self {
        Subject::RunUser {
            uid: user.uid,
            tags: &user.tags,
            active: user.active,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bodies_read_and_write_designs_json() {
        let body = json!({
            "name": "Engineers",
            "targets": [
                {"run_user": "0190a2a4-0000-7000-8000-000000000001"},
                {"tag": {"key": "team", "value": "eng"}},
                {"any_run_user": true}
            ],
            "permissions": [{
                "effect": "deny",
                "actions": ["edit"],
                "resources": [
                    {"type": "device"},
                    {"type": "device", "id": "d1"},
                    {"type": "device", "tag": {"key": "site", "value": "paris"}},
                    {"type": "device", "tag_match": "site"},
                    {"type": "file", "path_prefix": "/eng/"}
                ]
            }]
        });
        let parsed: PolicyBody = serde_json::from_value(body.clone()).expect("a valid body");
        assert!(parsed.active, "active by default");
        assert_eq!(parsed.permissions[0].effect, Effect::Deny);
        let mut written = serde_json::to_value(&parsed).expect("serialises");
        assert_eq!(written["active"], json!(true));
        if let Some(object) = written.as_object_mut() {
            object.remove("active");
        }
        assert_eq!(written, body);
    }

    #[test]
    fn unknown_fields_and_forms_are_refused() {
        let refused =
            |value: serde_json::Value| serde_json::from_value::<PolicyBody>(value).is_err();
        let with_selector = |selector: serde_json::Value| {
            json!({"name": "p", "targets": [{"any_run_user": true}],
                   "permissions": [{"effect": "allow", "actions": ["edit"], "resources": [selector]}]})
        };
        assert!(refused(with_selector(
            json!({"type": "device", "tagmatch": "site"})
        )));
        assert!(refused(with_selector(
            json!({"type": "device", "tag": {"key": "a", "value": "b", "x": 1}})
        )));
        assert!(!refused(with_selector(json!({"type": "device"}))));
        let with_target = |target: serde_json::Value| {
            json!({"name": "p", "targets": [target],
                   "permissions": [{"effect": "allow", "actions": ["edit"], "resources": [{"type": "device"}]}]})
        };
        assert!(refused(with_target(json!({"everyone": true}))));
        assert!(refused(with_target(
            json!({"any_run_user": true, "tag": {"key": "a", "value": "b"}})
        )));
        assert!(refused(with_target(json!({"run_user": "not a uuid"}))));
        assert!(refused(
            json!({"name": "p", "targets": [], "permissions": [], "priority": 1})
        ));
        assert!(
            serde_json::from_value::<ResourceRef>(json!({"type": "device", "owner": "x"})).is_err()
        );
    }

    #[test]
    fn the_catalogue_is_a_map_of_ordered_actions_without_repeated_types() {
        let default = serde_json::to_value(Catalogue::default()).expect("serialises");
        assert_eq!(
            default,
            json!({
                "analysis": ["run"],
                "dashboard": ["access", "edit"],
                "device": ["access", "edit", "delete"],
                "file": ["read", "write", "delete"]
            })
        );
        let read: Catalogue = serde_json::from_value(default).expect("reads back");
        assert_eq!(read, Catalogue::default());
        assert!(read.has_action("device", "delete"));
        assert!(!read.has_action("dashboard", "delete"));
        assert!(serde_json::from_str::<Catalogue>(r#"{"a": ["x"], "a": ["y"]}"#).is_err());
    }
}
