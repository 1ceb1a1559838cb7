//! The filtered, paged list of a profile's run users.
//!
//! Each request reads one *source*, chosen by the filters and the order, and checks every user
//! it reads against every filter:
//! - a tag filter (in creation order, the default, or its reverse): the entries of that one tag
//!   (`RUNTAG#<key>#<value>#<uid>`), so the first page of a tag filter reads about a page of
//!   entries and their users however many users the profile has;
//! - `q` (in its own order, or with `order=name` / `order=email`): the name entries and the
//!   e-mail claims whose terms start with `q`, merged into one stream ordered by the matching
//!   term (a user matching by both is listed once, at the first);
//! - otherwise the order's own source: the users themselves (creation order), the name entries
//!   (`name`) or the e-mail claims (`email`).
//!
//! A request examines at most [`BUDGET`] entries: when the filters reject that many, the page
//! holds fewer users than `limit` (maybe none) and a cursor to read on. The cursor carries the
//! position in each stream, signed and bound to the profile and the query.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::super::cursor;
use super::super::records::{RunUserRecord, Tag};
use super::reader::Reader;
pub use super::reader::{Filters, Order};
use crate::app::App;
use crate::refusal::{Decided, Refusal};
use crate::store::Item;

/// The most entries one request examines.
pub const BUDGET: usize = 1000;
pub const MAX_LIMIT: usize = 100;
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_Q_CHARS: usize = 100;

/// What the list is asked for.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub q: Option<String>,
    pub active: Option<bool>,
    pub tags: Vec<Tag>,
    /// `None`: creation order, or the order of `q`'s matches when `q` is given.
    pub order: Option<Order>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// One page: the users and, when more may follow, the cursor of the next page.
pub struct ListPage {
    pub users: Vec<RunUserRecord>,
    pub next_cursor: Option<String>,
}

/// The list's name for cursors: its query, so a cursor of another query is refused.
fn list_name(filters: &Filters, order: Option<Order>) -> String {
    let mut tags: Vec<(&str, &str)> = filters
        .tags
        .iter()
        .map(|tag| (tag.key.as_str(), tag.value.as_str()))
        .collect();
    tags.sort();
    let canonical = json!({
        "q": filters.q, "active": filters.active, "tags": tags, "order": format!("{order:?}"),
    });
    format!(
        "run-users:{:x}",
        Sha256::digest(canonical.to_string().as_bytes())
    )
}

/// The filters of a query, checked and normalised (`q` trimmed and lower-cased).
pub fn filters(query: &ListQuery) -> Decided<Filters> {
    let q = match query.q.as_deref().map(str::trim) {
        Some(q) if q.chars().count() > MAX_Q_CHARS => {
            return Err(Refusal::invalid(
                "q",
                format!("at most {MAX_Q_CHARS} characters"),
            ));
        }
        Some(q) if !q.is_empty() => Some(q.to_lowercase()),
        _ => None,
    };
    Ok(Filters {
        q,
        active: query.active,
        tags: query.tags.clone(),
    })
}

/// One page of profile `pid`'s run users.
pub async fn list(app: &App, pid: Uuid, query: ListQuery) -> Decided<ListPage> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Refusal::invalid("limit", format!("from 1 to {MAX_LIMIT}")));
    }
    let filters = filters(&query)?;
    let name = list_name(&filters, query.order);
    let key = cursor::key(app).await?;
    let positions: Vec<Option<String>> = match &query.cursor {
        Some(text) => match cursor::decode(&key, &name, pid, text)?.get("p") {
            Some(Value::Array(parts)) => parts
                .iter()
                .map(|part| part.as_str().map(str::to_owned))
                .collect(),
            _ => {
                return Err(Refusal::InvalidCursor(
                    "the cursor is not valid for this list".into(),
                ));
            }
        },
        None => Vec::new(),
    };
    let mut reader = Reader::new(pid, filters, query.order, &positions);
    let mut users = Vec::new();
    let mut next_positions = None;
    let mut examined = 0;
    'reading: while examined < BUDGET {
        // A batch of entries in the merged order, then their users, read together.
        let want = (limit + 1 - users.len()).min(BUDGET - examined);
        let (found, read) = reader.read(app, want).await?;
        if read == 0 {
            return Ok(ListPage {
                users,
                next_cursor: None,
            });
        }
        examined += read;
        for found in found {
            if users.len() == limit {
                // A user beyond this page exists: the page ends at the last one it holds.
                break 'reading;
            }
            users.push(found.user);
            next_positions = Some(found.positions);
        }
        if reader.exhausted() {
            return Ok(ListPage {
                users,
                next_cursor: None,
            });
        }
        if examined >= BUDGET {
            // Out of budget: the next page reads on from here.
            next_positions = Some(reader.positions());
        }
    }
    let next_cursor = match (users.len() == limit || examined >= BUDGET, next_positions) {
        (true, Some(positions)) => Some(cursor::encode(
            &key,
            &name,
            pid,
            &position_item(&positions),
        )?),
        _ => None,
    };
    Ok(ListPage { users, next_cursor })
}

fn position_item(positions: &[Option<String>]) -> Item {
    let mut item = Item::new();
    item.insert("p".into(), json!(positions));
    item
}
