//! A [`Table`] that fails chosen writes on purpose, to test what a request leaves behind when the
//! store fails half way through it (the fault proxy in front of DynamoDB Local does the same at
//! random; this does it exactly where a test wants it, on both adapters).

use std::sync::Arc;
use std::sync::Mutex;

use async_trait::async_trait;
use shared::store::{Condition, Item, Key, Page, Query, StoreError, Table, Update, Write};

type Rule = Box<dyn Fn(&Key) -> bool + Send + Sync>;

/// Hands every call to the wrapped table, except a write (single or in a transaction) touching a
/// key that the armed rule picks: that call fails with `Unavailable` and writes nothing.
pub struct FailingTable {
    inner: Arc<dyn Table>,
    rule: Mutex<Option<Rule>>,
}

impl FailingTable {
    pub fn new(inner: Arc<dyn Table>) -> Self {
        FailingTable {
            inner,
            rule: Mutex::new(None),
        }
    }

    /// From now on, fails every write that touches a key `rule` picks.
    pub fn fail_writes_to(&self, rule: impl Fn(&Key) -> bool + Send + Sync + 'static) {
        *self.rule.lock().expect("the rule") = Some(Box::new(rule));
    }

    /// Lets every call through again.
    pub fn heal(&self) {
        *self.rule.lock().expect("the rule") = None;
    }

    fn refuses(&self, keys: impl IntoIterator<Item = Key>) -> Result<(), StoreError> {
        let rule = self.rule.lock().expect("the rule");
        match rule.as_ref() {
            Some(rule) if keys.into_iter().any(|key| rule(&key)) => Err(StoreError::Unavailable(
                "failed on purpose by the test".into(),
            )),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Table for FailingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.refuses(Key::of(&item))?;
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.refuses([key.clone()])?;
        self.inner.update(key, update, condition).await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        self.refuses([key.clone()])?;
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.refuses(writes.iter().filter_map(Write::key))?;
        self.inner.transact(writes).await
    }
    async fn scan(&self, cursor: Option<Item>) -> Result<Page, StoreError> {
        self.inner.scan(cursor).await
    }
}
