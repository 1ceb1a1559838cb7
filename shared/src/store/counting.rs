//! A [`Table`] wrapper that counts every call, so tests and benchmarks can assert how many round
//! trips (and how many writes) a request made, and how many items its reads brought back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{Condition, Item, Key, Page, Query, StoreError, Table, Update, Write};

/// Calls made so far, per operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    pub get: u64,
    pub put: u64,
    pub update: u64,
    pub delete: u64,
    pub query: u64,
    pub transact: u64,
    pub scan: u64,
    /// Items the reads brought back (a get that found its item: 1; a query or scan page: its
    /// items). Not a call: [`Calls::total`] leaves it out.
    pub items_read: u64,
    /// Sequential round trips: calls made while no other call was in flight (calls made at
    /// the same time, as with `tokio::join!`, are one step). Meaningful for one request at a
    /// time. Not a call: [`Calls::total`] leaves it out.
    pub steps: u64,
    /// Items written: one per put, update or delete, one per write of a transaction (what
    /// DynamoDB bills write units for). Not a call: [`Calls::total`] leaves it out.
    pub items_written: u64,
}

impl Calls {
    /// Every round trip.
    pub fn total(&self) -> u64 {
        self.get + self.put + self.update + self.delete + self.query + self.transact + self.scan
    }
    /// Round trips that may write.
    pub fn writes(&self) -> u64 {
        self.put + self.update + self.delete + self.transact
    }
    /// What was called between `earlier` and `self`.
    pub fn since(&self, earlier: &Calls) -> Calls {
        Calls {
            get: self.get - earlier.get,
            put: self.put - earlier.put,
            update: self.update - earlier.update,
            delete: self.delete - earlier.delete,
            query: self.query - earlier.query,
            transact: self.transact - earlier.transact,
            scan: self.scan - earlier.scan,
            items_read: self.items_read - earlier.items_read,
            steps: self.steps - earlier.steps,
            items_written: self.items_written - earlier.items_written,
        }
    }
}

#[derive(Default)]
struct Counters {
    get: AtomicU64,
    put: AtomicU64,
    update: AtomicU64,
    delete: AtomicU64,
    query: AtomicU64,
    transact: AtomicU64,
    scan: AtomicU64,
    items_read: AtomicU64,
    steps: AtomicU64,
    in_flight: AtomicU64,
    items_written: AtomicU64,
}

/// Counts the calls made through it, then hands them to the wrapped table.
pub struct CountingTable {
    inner: Arc<dyn Table>,
    counters: Counters,
}

impl CountingTable {
    pub fn new(inner: Arc<dyn Table>) -> Self {
        CountingTable {
            inner,
            counters: Counters::default(),
        }
    }

    pub fn calls(&self) -> Calls {
        let c = &self.counters;
        Calls {
            get: c.get.load(Ordering::SeqCst),
            put: c.put.load(Ordering::SeqCst),
            update: c.update.load(Ordering::SeqCst),
            delete: c.delete.load(Ordering::SeqCst),
            query: c.query.load(Ordering::SeqCst),
            transact: c.transact.load(Ordering::SeqCst),
            scan: c.scan.load(Ordering::SeqCst),
            items_read: c.items_read.load(Ordering::SeqCst),
            steps: c.steps.load(Ordering::SeqCst),
            items_written: c.items_written.load(Ordering::SeqCst),
        }
    }
}

impl CountingTable {
    /// Counts a call of kind `counter` and runs it; a call that starts while none is in flight
    /// starts a new step. Each call first yields once, so that calls started together (a
    /// `join!`) are all in flight before any of them ends, even on a store that answers at
    /// once.
    async fn counted<T>(
        &self,
        counter: &AtomicU64,
        items_written: usize,
        call: impl Future<Output = T>,
    ) -> T {
        let c = &self.counters;
        counter.fetch_add(1, Ordering::SeqCst);
        c.items_written
            .fetch_add(items_written as u64, Ordering::SeqCst);
        if c.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            c.steps.fetch_add(1, Ordering::SeqCst);
        }
        // Ends the call's flight also when its future is dropped half way.
        struct Landing<'a>(&'a AtomicU64);
        impl Drop for Landing<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _landing = Landing(&c.in_flight);
        tokio::task::yield_now().await;
        call.await
    }

    fn read(&self, items: usize) {
        self.counters
            .items_read
            .fetch_add(items as u64, Ordering::SeqCst);
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let item = self
            .counted(&self.counters.get, 0, self.inner.get(key))
            .await?;
        self.read(usize::from(item.is_some()));
        Ok(item)
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.counted(&self.counters.put, 1, self.inner.put(item, condition))
            .await
    }
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.counted(
            &self.counters.update,
            1,
            self.inner.update(key, update, condition),
        )
        .await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        self.counted(&self.counters.delete, 1, self.inner.delete(key, condition))
            .await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let page = self
            .counted(&self.counters.query, 0, self.inner.query(query))
            .await?;
        self.read(page.items.len());
        Ok(page)
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let items = writes.len();
        self.counted(&self.counters.transact, items, self.inner.transact(writes))
            .await
    }
    async fn scan(&self, cursor: Option<Item>) -> Result<Page, StoreError> {
        let page = self
            .counted(&self.counters.scan, 0, self.inner.scan(cursor))
            .await?;
        self.read(page.items.len());
        Ok(page)
    }
}
