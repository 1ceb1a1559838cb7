//! Reads of many items: a query on the table or the index, paged by a cursor and by
//! [`PAGE_BYTES`], and the scan of the whole table.

use std::ops::Bound;

use super::codec::{
    as_slice, cursor_of, cursor_position, decode_item, prefix_bytes, prefix_end,
    primary_of_gsi_entry,
};
use super::{EmbeddedTable, GSI1, ITEMS, SEP, fail};
use crate::store::{Index, Item, PAGE_BYTES, Page, Query, SortKey, StoreError};

impl EmbeddedTable {
    /// One page of a query (the body of [`crate::store::Table::query`]).
    pub(super) async fn query_page(&self, query: Query) -> Result<Page, StoreError> {
        let (start, end) = match &query.sort {
            SortKey::All => {
                let start = prefix_bytes(&query.partition, "");
                let end = prefix_end(&start);
                (
                    Bound::Included(start),
                    end.map_or(Bound::Unbounded, Bound::Excluded),
                )
            }
            SortKey::Prefix(prefix) => {
                let start = prefix_bytes(&query.partition, prefix);
                let end = prefix_end(&start);
                (
                    Bound::Included(start),
                    end.map_or(Bound::Unbounded, Bound::Excluded),
                )
            }
            SortKey::Between(from, to) => {
                // On GSI1 an entry continues after the sort key (`\0 PK \0 SK`), so "up to `to`"
                // means every entry that starts with `to \0`.
                let upper = prefix_bytes(&query.partition, to);
                let end = match query.index {
                    Index::Table => Bound::Included(upper),
                    Index::Gsi1 => {
                        let mut with_sep = upper;
                        with_sep.push(SEP);
                        prefix_end(&with_sep).map_or(Bound::Unbounded, Bound::Excluded)
                    }
                };
                (Bound::Included(prefix_bytes(&query.partition, from)), end)
            }
        };
        let resume = match &query.cursor {
            Some(cursor) => Some(cursor_position(cursor, query.index)?),
            None => None,
        };
        let (start, end) = match (resume, query.forward) {
            (Some(after), true) => (Bound::Excluded(after), end),
            (Some(before), false) => (start, Bound::Excluded(before)),
            (None, _) => (start, end),
        };
        let limit = query.limit.unwrap_or(usize::MAX).max(1);
        let index = query.index;
        let forward = query.forward;
        self.read(move |txn| {
            let items = txn.open_table(ITEMS).map_err(fail)?;
            let gsi = txn.open_table(GSI1).map_err(fail)?;
            let mut page = Page::default();
            let mut bytes_read = 0usize;
            let mut push = |bytes: &[u8]| -> Result<bool, StoreError> {
                // true: the page is full and more items follow.
                if page.items.len() >= limit || bytes_read >= PAGE_BYTES {
                    return Ok(true);
                }
                bytes_read += bytes.len();
                page.items.push(decode_item(bytes)?);
                Ok(false)
            };
            let mut full = false;
            match index {
                Index::Table => {
                    let range = items
                        .range::<&[u8]>((as_slice(&start), as_slice(&end)))
                        .map_err(fail)?;
                    let entries: Box<dyn Iterator<Item = _>> = if forward {
                        Box::new(range)
                    } else {
                        Box::new(range.rev())
                    };
                    for entry in entries {
                        let (_, value) = entry.map_err(fail)?;
                        if push(value.value())? {
                            full = true;
                            break;
                        }
                    }
                }
                Index::Gsi1 => {
                    let range = gsi
                        .range::<&[u8]>((as_slice(&start), as_slice(&end)))
                        .map_err(fail)?;
                    let entries: Box<dyn Iterator<Item = _>> = if forward {
                        Box::new(range)
                    } else {
                        Box::new(range.rev())
                    };
                    for entry in entries {
                        let (entry, _) = entry.map_err(fail)?;
                        let primary = primary_of_gsi_entry(entry.value());
                        let Some(found) = items.get(primary).map_err(fail)? else {
                            continue;
                        };
                        if push(found.value())? {
                            full = true;
                            break;
                        }
                    }
                }
            }
            if full {
                page.next = page.items.last().map(|item| cursor_of(item, index));
            }
            Ok(page)
        })
        .await
    }

    /// One page of a scan (the body of [`crate::store::Table::scan`]).
    pub(super) async fn scan_page(&self, cursor: Option<Item>) -> Result<Page, StoreError> {
        let start = match &cursor {
            Some(cursor) => Bound::Excluded(cursor_position(cursor, Index::Table)?),
            None => Bound::Unbounded,
        };
        self.read(move |txn| {
            let items = txn.open_table(ITEMS).map_err(fail)?;
            let mut page = Page::default();
            let mut bytes_read = 0usize;
            for entry in items
                .range::<&[u8]>((as_slice(&start), Bound::Unbounded))
                .map_err(fail)?
            {
                let (_, value) = entry.map_err(fail)?;
                if bytes_read >= PAGE_BYTES {
                    page.next = page.items.last().map(|item| cursor_of(item, Index::Table));
                    break;
                }
                bytes_read += value.value().len();
                page.items.push(decode_item(value.value())?);
            }
            Ok(page)
        })
        .await
    }
}
