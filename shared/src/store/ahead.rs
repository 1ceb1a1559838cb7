//! Reads made ahead: a request's first reads, made at the same time as the reads that
//! authenticate it (issue 14, "Round trips"), then handed to the code that would have made them.
//!
//! [`read_ahead`] makes them; [`PrimedTable`] is the table the request's handler then sees. Each
//! answer is served once, to the first identical read made before the request's first write;
//! every other call (a read made again, any read after a write) goes to the table. An answer
//! read ahead is what the same read a few milliseconds later would most likely have returned:
//! writes stay guarded by their conditions, as after any read, and a read after a write (a retry
//! after a lost race) sees the store.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Condition, Item, Key, Page, Query, StoreError, Table, Update, Write};

/// One read a route makes ahead.
#[derive(Clone, Debug, PartialEq)]
pub enum Read {
    Get(Key),
    /// The first page of a query.
    Query(Query),
}

#[derive(Clone, Debug)]
enum Answer {
    Item(Option<Item>),
    Page(Page),
}

/// The answers of reads made ahead, each waiting for the one read that will take it.
#[derive(Debug, Default)]
pub struct ReadsAhead(Vec<(Read, Answer)>);

/// Makes `reads` at the same time, in the caller's task (so they start with the reads joined
/// to them). A read that fails is left out: the handler makes it again, and meets the error
/// there.
pub async fn read_ahead(table: &dyn Table, reads: Vec<Read>) -> ReadsAhead {
    let answers = futures_util::future::join_all(reads.into_iter().map(|read| async move {
        let answer = match &read {
            Read::Get(key) => table.get(key).await.map(Answer::Item),
            Read::Query(query) => table.query(query.clone()).await.map(Answer::Page),
        };
        answer.ok().map(|answer| (read, answer))
    }))
    .await;
    ReadsAhead(answers.into_iter().flatten().collect())
}

impl ReadsAhead {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What the get of `key` read ahead found (`None` when it was not read ahead), left in
    /// place for the handler: for the check that clears the caller, which reads what its
    /// handler then reads first.
    fn got(&self, key: &Key) -> Option<Option<Item>> {
        self.0
            .iter()
            .find_map(|(read, answer)| match (read, answer) {
                (Read::Get(read), Answer::Item(item)) if read == key => Some(item.clone()),
                _ => None,
            })
    }

    /// The items under `keys`: as read ahead when every one of them was (left in place for the
    /// handler, see [`ReadsAhead::got`]), else all read from `table` at the same time.
    pub async fn got_or_read<const N: usize>(
        &self,
        table: &dyn Table,
        keys: [&Key; N],
    ) -> Result<[Option<Item>; N], StoreError> {
        let got = keys.map(|key| self.got(key));
        if got.iter().all(Option::is_some) {
            return Ok(got.map(Option::flatten));
        }
        let read = futures_util::future::join_all(keys.map(|key| table.get(key))).await;
        let mut found = [(); N].map(|()| None);
        for (slot, item) in found.iter_mut().zip(read) {
            *slot = item?;
        }
        Ok(found)
    }
}

/// A table that answers the reads made ahead (each once) and hands every other call on.
pub struct PrimedTable {
    inner: Arc<dyn Table>,
    ready: Mutex<ReadsAhead>,
}

impl PrimedTable {
    pub fn new(inner: Arc<dyn Table>, ready: ReadsAhead) -> Self {
        PrimedTable {
            inner,
            ready: Mutex::new(ready),
        }
    }

    /// The answer read ahead for `read`, taken (`None` when there is none, or none left).
    fn take(&self, read: &Read) -> Option<Answer> {
        let mut ready = self.ready.lock().ok()?;
        let at = ready.0.iter().position(|(made, _)| made == read)?;
        Some(ready.0.swap_remove(at).1)
    }

    /// Drops every answer not taken yet: the request writes, and what it reads from now on
    /// must see the store as it is after the write (a retry's read, a read of what it wrote).
    fn written(&self) {
        if let Ok(mut ready) = self.ready.lock() {
            ready.0.clear();
        }
    }

    /// How many answers read ahead no read has taken (yet).
    pub fn unused(&self) -> usize {
        self.ready.lock().map(|ready| ready.0.len()).unwrap_or(0)
    }
}

#[async_trait]
impl Table for PrimedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        match self.take(&Read::Get(key.clone())) {
            Some(Answer::Item(item)) => Ok(item),
            _ => self.inner.get(key).await,
        }
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        match self.take(&Read::Query(query.clone())) {
            Some(Answer::Page(page)) => Ok(page),
            _ => self.inner.query(query).await,
        }
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.written();
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.written();
        self.inner.update(key, update, condition).await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        self.written();
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.written();
        self.inner.transact(writes).await
    }
    async fn scan(&self, cursor: Option<Item>) -> Result<Page, StoreError> {
        self.inner.scan(cursor).await
    }
}
