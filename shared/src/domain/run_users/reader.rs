//! Reading run users in one of the list's orders, through one source (or, for `q`, two merged
//! streams), re-checking every filter on every user read: shared by the paged list and the CSV
//! export. See `list` for which source a query reads.

use std::collections::VecDeque;

use serde_json::Value;
use uuid::Uuid;

use super::super::records::{RunUserEntry, RunUserRecord, Tag};
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Item, PK, Query, SK};

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

/// The filters, normalised.
pub struct Filters {
    /// Lower-cased.
    pub q: Option<String>,
    pub active: Option<bool>,
    pub tags: Vec<Tag>,
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

/// A user that passed the filters, with the position of every stream just after it.
pub struct Found {
    pub user: RunUserRecord,
    pub positions: Vec<Option<String>>,
}

/// Reads the users of one profile that pass `filters`, in one order, resumable from positions.
pub struct Reader {
    pid: Uuid,
    partition: String,
    filters: Filters,
    streams: Vec<Stream>,
}

impl Reader {
    /// A reader of profile `pid`'s users for `filters` in `order`, starting after `positions`
    /// (one per stream, from [`Found::positions`] or [`Reader::positions`]; empty: the start).
    pub fn new(
        pid: Uuid,
        filters: Filters,
        order: Option<Order>,
        positions: &[Option<String>],
    ) -> Reader {
        let at = |i: usize| positions.get(i).cloned().flatten();
        let streams = match (&filters, order) {
            (Filters { tags, .. }, None | Some(Order::Created | Order::CreatedDesc))
                if !tags.is_empty() =>
            {
                let forward = order != Some(Order::CreatedDesc);
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
        Reader {
            pid,
            partition: keys::profile_partition(pid),
            filters,
            streams,
        }
    }

    /// The position of every stream after everything read so far.
    pub fn positions(&self) -> Vec<Option<String>> {
        self.streams
            .iter()
            .map(|stream| stream.after.clone())
            .collect()
    }

    /// The same reader, resuming after `positions` (see [`Reader::positions_after`]).
    pub fn starting_at(mut self, positions: &[Option<String>]) -> Reader {
        for (i, stream) in self.streams.iter_mut().enumerate() {
            stream.after = positions.get(i).cloned().flatten();
        }
        self
    }

    /// Whether this reader reads the users themselves (creation order), so a position is a
    /// user id, whether or not that user still exists.
    pub fn resumes_by_id(&self) -> bool {
        matches!(self.streams.as_slice(), [stream] if stream.kind == Kind::Users)
    }

    /// Whether every stream is read to its end.
    pub fn exhausted(&self) -> bool {
        self.streams
            .iter()
            .all(|stream| stream.done && stream.buffer.is_empty())
    }

    /// The positions just after `user` in this reader's order: where a reader resumes "after
    /// this user".
    pub fn positions_after(&self, user: &RunUserRecord) -> Vec<Option<String>> {
        let name = keys::run_name_entry(user.pid, &user.name.to_lowercase(), user.uid).sk;
        let email = keys::run_email_claim(user.pid, &user.email).sk;
        let name_term = &name[keys::RUN_NAME_PREFIX.len()..];
        let email_term = &email[keys::RUN_EMAIL_PREFIX.len()..];
        // In `q`'s merged order a user stands at its first matching term.
        let term = match &self.filters.q {
            Some(q)
                if user.email.as_str().starts_with(q.as_str())
                    && !(user.name.to_lowercase().starts_with(q.as_str())
                        && name_term <= email_term) =>
            {
                email_term
            }
            _ => name_term,
        };
        self.streams
            .iter()
            .map(|stream| {
                Some(match stream.kind {
                    Kind::Users => keys::run_user(user.pid, user.uid).sk,
                    Kind::Tag => format!("{}{}", stream.prefix, user.uid),
                    Kind::Names | Kind::Emails if self.streams.len() > 1 => {
                        format!("{}{term}", stream.prefix_root())
                    }
                    Kind::Names => name.clone(),
                    Kind::Emails => email.clone(),
                })
            })
            .collect()
    }

    /// Reads up to `want` entries (at least one) and returns the users among them that pass the
    /// filters, in order, and how many entries were read (0: the end).
    pub async fn read(&mut self, app: &App, want: usize) -> Decided<(Vec<Found>, usize)> {
        let batch = take_batch(app, &self.partition, &mut self.streams, want.max(1)).await?;
        let examined = batch.len();
        let records = resolve(app, self.pid, &batch).await?;
        let mut found = Vec::new();
        for (candidate, user) in batch.into_iter().zip(records) {
            let Some(user) = user else { continue };
            if self.filters.accept(&user)
                && is_current(&candidate, &user, self.filters.q.as_deref())
            {
                found.push(Found {
                    user,
                    positions: candidate.positions,
                });
            }
        }
        Ok((found, examined))
    }
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
