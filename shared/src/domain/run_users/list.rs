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

use std::collections::VecDeque;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::super::cursor;
use super::super::records::{RunUserEntry, RunUserRecord, Tag};
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Item, PK, Query, SK};

/// The most entries one request examines.
pub const BUDGET: usize = 1000;
pub const MAX_LIMIT: usize = 100;
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_Q_CHARS: usize = 100;

/// The list's orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Created,
    CreatedDesc,
    Name,
    Email,
}

impl Order {
    pub fn parse(text: &str) -> Decided<Order> {
        match text {
            "created_at" => Ok(Order::Created),
            "-created_at" => Ok(Order::CreatedDesc),
            "name" => Ok(Order::Name),
            "email" => Ok(Order::Email),
            _ => Err(Refusal::invalid(
                "order",
                "one of `created_at`, `-created_at`, `name`, `email`",
            )),
        }
    }
}

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

/// The filters, normalised.
struct Filters {
    q: Option<String>,
    active: Option<bool>,
    tags: Vec<Tag>,
}

impl Filters {
    fn accept(&self, user: &RunUserRecord) -> bool {
        self.active.is_none_or(|active| user.active == active)
            && self
                .tags
                .iter()
                .all(|tag| user.tag(&tag.key) == Some(tag.value.as_str()))
            && self.q.as_ref().is_none_or(|q| {
                user.name.to_lowercase().starts_with(q.as_str())
                    || user.email.as_str().starts_with(q.as_str())
            })
    }
}

/// What a stream's entries are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The users themselves.
    Users,
    /// Name entries.
    Names,
    /// E-mail claims.
    Emails,
    /// One tag's entries.
    Tag,
}

/// One position-keeping reader of a sort-key range of the profile's partition.
struct Stream {
    kind: Kind,
    prefix: String,
    forward: bool,
    /// The sort key last consumed (the next read starts after it).
    after: Option<String>,
    buffer: VecDeque<Item>,
    done: bool,
}

impl Stream {
    fn new(kind: Kind, prefix: String, forward: bool, after: Option<String>) -> Self {
        Stream {
            kind,
            prefix,
            forward,
            after,
            buffer: VecDeque::new(),
            done: false,
        }
    }

    /// The next entry's sort key, reading a chunk of `chunk` when the buffer is empty.
    async fn peek(&mut self, app: &App, partition: &str, chunk: usize) -> Decided<Option<String>> {
        if self.buffer.is_empty() && !self.done {
            let mut query = Query::partition(partition)
                .prefix(self.prefix.clone())
                .limit(chunk);
            if !self.forward {
                query = query.backward();
            }
            if let Some(after) = &self.after {
                let mut position = Item::new();
                position.insert(PK.into(), partition.into());
                position.insert(SK.into(), after.clone().into());
                query = query.after(Some(position));
            }
            let page = app.table.query(query).await?;
            self.done = page.next.is_none();
            self.buffer.extend(page.items);
        }
        Ok(self.buffer.front().and_then(sort_key))
    }

    fn pop(&mut self) -> Option<Item> {
        let item = self.buffer.pop_front()?;
        self.after = sort_key(&item);
        Some(item)
    }
}

fn sort_key(item: &Item) -> Option<String> {
    item.get(SK).and_then(Value::as_str).map(str::to_owned)
}

/// An entry taken from a stream, with the positions of every stream just after it.
struct Candidate {
    kind: Kind,
    sort_key: String,
    item: Item,
    positions: Vec<Option<String>>,
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

/// One page of profile `pid`'s run users.
pub async fn list(app: &App, pid: Uuid, query: ListQuery) -> Decided<ListPage> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Refusal::invalid("limit", format!("from 1 to {MAX_LIMIT}")));
    }
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
    let filters = Filters {
        q,
        active: query.active,
        tags: query.tags,
    };
    let name = list_name(&filters, query.order);
    let key = cursor::key(app).await?;
    let positions: Vec<Option<String>> = match &query.cursor {
        Some(text) => {
            let item = cursor::decode(&key, &name, pid, text)?;
            match item.get("p") {
                Some(Value::Array(parts)) => parts
                    .iter()
                    .map(|part| part.as_str().map(str::to_owned))
                    .collect(),
                _ => {
                    return Err(Refusal::InvalidCursor(
                        "the cursor is not valid for this list".into(),
                    ));
                }
            }
        }
        None => Vec::new(),
    };
    let at = |i: usize| positions.get(i).cloned().flatten();
    let mut streams = match (&filters, query.order) {
        (Filters { tags, .. }, None | Some(Order::Created | Order::CreatedDesc))
            if !tags.is_empty() =>
        {
            let forward = query.order != Some(Order::CreatedDesc);
            vec![Stream::new(
                Kind::Tag,
                keys::run_tag_prefix(&tags[0].key, &tags[0].value),
                forward,
                at(0),
            )]
        }
        (Filters { q: Some(q), .. }, None | Some(Order::Name | Order::Email)) => vec![
            Stream::new(Kind::Names, keys::run_name_prefix(q), true, at(0)),
            Stream::new(
                Kind::Emails,
                format!("{}{q}", keys::RUN_EMAIL_PREFIX),
                true,
                at(1),
            ),
        ],
        (_, Some(Order::Name)) => vec![Stream::new(
            Kind::Names,
            keys::RUN_NAME_PREFIX.into(),
            true,
            at(0),
        )],
        (_, Some(Order::Email)) => vec![Stream::new(
            Kind::Emails,
            keys::RUN_EMAIL_PREFIX.into(),
            true,
            at(0),
        )],
        (_, order) => vec![Stream::new(
            Kind::Users,
            keys::RUN_USER_PREFIX.into(),
            order != Some(Order::CreatedDesc),
            at(0),
        )],
    };
    let partition = keys::profile_partition(pid);
    let mut users = Vec::new();
    let mut next_positions = None;
    let mut examined = 0;
    'reading: while examined < BUDGET {
        // A batch of candidates in the merged order, then their users, read together.
        let want = (limit + 1 - users.len()).min(BUDGET - examined);
        let batch = take_batch(app, &partition, &mut streams, want).await?;
        if batch.is_empty() {
            return Ok(ListPage {
                users,
                next_cursor: None,
            });
        }
        examined += batch.len();
        let records = resolve(app, pid, &batch).await?;
        for (candidate, user) in batch.into_iter().zip(records) {
            let Some(user) = user else { continue };
            if !filters.accept(&user) || !is_current(&candidate, &user, filters.q.as_deref()) {
                continue;
            }
            if users.len() == limit {
                // A user beyond this page exists: the page ends at the last one it holds.
                break 'reading;
            }
            users.push(user);
            next_positions = Some(candidate.positions);
        }
        if streams
            .iter()
            .all(|stream| stream.done && stream.buffer.is_empty())
        {
            return Ok(ListPage {
                users,
                next_cursor: None,
            });
        }
        if examined >= BUDGET {
            // Out of budget: the next page reads on from here.
            next_positions = Some(streams.iter().map(|stream| stream.after.clone()).collect());
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

/// Takes up to `want` candidates from the streams, in merged order (by the sort key's part
/// after each stream's prefix; the first stream wins a tie).
async fn take_batch(
    app: &App,
    partition: &str,
    streams: &mut [Stream],
    want: usize,
) -> Decided<Vec<Candidate>> {
    let chunk = want.max(1);
    let mut batch = Vec::new();
    while batch.len() < want {
        let mut best: Option<(usize, String)> = None;
        for (i, stream) in streams.iter_mut().enumerate() {
            let Some(sort_key) = stream.peek(app, partition, chunk).await? else {
                continue;
            };
            let term = sort_key
                .strip_prefix(stream.prefix_root())
                .unwrap_or(&sort_key)
                .to_owned();
            if best.as_ref().is_none_or(|(_, best)| term < *best) {
                best = Some((i, term));
            }
        }
        let Some((i, _)) = best else { break };
        let kind = streams[i].kind;
        let Some(item) = streams[i].pop() else { break };
        let positions = streams.iter().map(|stream| stream.after.clone()).collect();
        batch.push(Candidate {
            kind,
            sort_key: sort_key(&item).unwrap_or_default(),
            item,
            positions,
        });
    }
    Ok(batch)
}

impl Stream {
    /// The part of every sort key of this stream that is the same for all (its kind's prefix).
    fn prefix_root(&self) -> &'static str {
        match self.kind {
            Kind::Users => keys::RUN_USER_PREFIX,
            Kind::Names => keys::RUN_NAME_PREFIX,
            Kind::Emails => keys::RUN_EMAIL_PREFIX,
            Kind::Tag => keys::RUN_TAG_PREFIX,
        }
    }
}

/// The user of each candidate: the item itself for the users stream, else read (all at once).
async fn resolve(app: &App, pid: Uuid, batch: &[Candidate]) -> Decided<Vec<Option<RunUserRecord>>> {
    let mut reads = tokio::task::JoinSet::new();
    let mut users: Vec<Option<RunUserRecord>> = vec![None; batch.len()];
    for (i, candidate) in batch.iter().enumerate() {
        if candidate.kind == Kind::Users {
            users[i] = Some(keys::from_item(candidate.item.clone())?);
            continue;
        }
        let entry: RunUserEntry = keys::from_item(candidate.item.clone())?;
        let table = app.table.clone();
        reads.spawn(async move { (i, table.get(&keys::run_user(pid, entry.uid)).await) });
    }
    while let Some(done) = reads.join_next().await {
        let (i, item) = done.map_err(|_| Refusal::Internal)?;
        if let (Some(slot), Some(item)) = (users.get_mut(i), item?) {
            *slot = Some(keys::from_item(item)?);
        }
    }
    Ok(users)
}

/// Whether a candidate still stands for its user (an entry may outlive a change of the value
/// it indexes), and, in `q`'s merged streams, whether it is the user's first match there (a
/// user whose name and e-mail both match is listed once).
fn is_current(candidate: &Candidate, user: &RunUserRecord, q: Option<&str>) -> bool {
    let name_key = keys::run_name_entry(user.pid, &user.name.to_lowercase(), user.uid).sk;
    let email_key = keys::run_email_claim(user.pid, &user.email).sk;
    let name_term = &name_key[keys::RUN_NAME_PREFIX.len()..];
    let email_term = &email_key[keys::RUN_EMAIL_PREFIX.len()..];
    let name_matches = q.is_some_and(|q| user.name.to_lowercase().starts_with(q));
    let email_matches = q.is_some_and(|q| user.email.as_str().starts_with(q));
    match candidate.kind {
        Kind::Users | Kind::Tag => true,
        Kind::Names => candidate.sort_key == name_key && !(email_matches && email_term < name_term),
        Kind::Emails => {
            candidate.sort_key == email_key && !(name_matches && name_term <= email_term)
        }
    }
}
