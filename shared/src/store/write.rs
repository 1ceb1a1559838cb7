//! What a write is: the key it touches, the condition that guards it, and what an update does.

use serde_json::Value;

use super::{Item, PK, SK};

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of an item, when it has string `PK` and `SK` attributes.
    pub fn of(item: &Item) -> Option<Key> {
        Some(Key::new(
            item.get(PK)?.as_str()?.to_owned(),
            item.get(SK)?.as_str()?.to_owned(),
        ))
    }
}

/// A condition on the current state of one item, checked atomically with the write it guards.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    /// The item exists and `attr` equals `value`.
    Equals(String, Value),
    /// The item exists and `attr` is absent or differs from `value`.
    NotEquals(String, Value),
    /// The number `attr` is below `bound`; an absent attribute (or item) counts as 0.
    Below(String, i64),
    /// The number `attr` is at least `bound`; an absent attribute (or item) counts as 0.
    AtLeast(String, i64),
    /// Every condition holds.
    All(Vec<Condition>),
    /// At least one condition holds (none, for an empty list).
    Any(Vec<Condition>),
}

/// What an update does to one item. Like DynamoDB's `UpdateItem`, an update creates the item when
/// it does not exist (guard it with [`Condition::Exists`] when that is wrong).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    /// Attributes set to a value.
    pub set: Vec<(String, Value)>,
    /// Numbers raised (or lowered) atomically; an absent attribute counts as 0.
    pub add: Vec<(String, i64)>,
    /// Attributes removed.
    pub remove: Vec<String>,
}

impl Update {
    pub fn new() -> Self {
        Update::default()
    }
    pub fn set(mut self, attr: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set.push((attr.into(), value.into()));
        self
    }
    pub fn add(mut self, attr: impl Into<String>, by: i64) -> Self {
        self.add.push((attr.into(), by));
        self
    }
    pub fn remove(mut self, attr: impl Into<String>) -> Self {
        self.remove.push(attr.into());
        self
    }
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// One write of a transaction (or on its own), with its own condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Update {
        key: Key,
        update: Update,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Writes nothing; only its condition must hold.
    Check { key: Key, condition: Condition },
}

impl Write {
    pub fn put(item: Item) -> Self {
        Write::Put {
            item,
            condition: None,
        }
    }
    pub fn put_new(item: Item) -> Self {
        Write::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    }
    pub fn update(key: Key, update: Update) -> Self {
        Write::Update {
            key,
            update,
            condition: None,
        }
    }
    pub fn delete(key: Key) -> Self {
        Write::Delete {
            key,
            condition: None,
        }
    }
    /// The same write guarded by `condition` (replacing any it had).
    pub fn when(self, condition: Condition) -> Self {
        match self {
            Write::Put { item, .. } => Write::Put {
                item,
                condition: Some(condition),
            },
            Write::Update { key, update, .. } => Write::Update {
                key,
                update,
                condition: Some(condition),
            },
            Write::Delete { key, .. } => Write::Delete {
                key,
                condition: Some(condition),
            },
            Write::Check { key, .. } => Write::Check { key, condition },
        }
    }
    pub fn key(&self) -> Option<Key> {
        match self {
            Write::Put { item, .. } => Key::of(item),
            Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => {
                Some(key.clone())
            }
        }
    }
}
