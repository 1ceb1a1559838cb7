//! What a read asks for: a query on one partition (and sort-key range) of the table or its
//! index, and the page it returns.

use super::Item;

/// Which sort keys a query returns.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    All,
    /// Sort keys that start with this prefix.
    Prefix(String),
    /// Sort keys from `from` to `to`, both included.
    Between(String, String),
}

/// Which key a query runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Index {
    /// The table itself (`PK`, `SK`).
    #[default]
    Table,
    /// The secondary index (`GSI1PK`, `GSI1SK`).
    Gsi1,
}

/// A query on one partition key, optionally narrowed by sort key, paged by a resumable cursor.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub index: Index,
    pub partition: String,
    pub sort: SortKey,
    /// At most this many items in the page (the 1 MB page bound still applies).
    pub limit: Option<usize>,
    /// The `next` of the previous page, to resume after it.
    pub cursor: Option<Item>,
    /// Ascending sort-key order when true (the default), descending otherwise.
    pub forward: bool,
}

impl Query {
    pub fn partition(partition: impl Into<String>) -> Self {
        Query {
            index: Index::Table,
            partition: partition.into(),
            sort: SortKey::All,
            limit: None,
            cursor: None,
            forward: true,
        }
    }
    pub fn gsi1(partition: impl Into<String>) -> Self {
        Query {
            index: Index::Gsi1,
            ..Query::partition(partition)
        }
    }
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sort = SortKey::Prefix(prefix.into());
        self
    }
    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sort = SortKey::Between(from.into(), to.into());
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn after(mut self, cursor: Option<Item>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }
}

/// One page of a query or scan. `next` is `Some` when more items may follow: pass it as the
/// next query's cursor. It holds only key attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Item>,
}
