//! The audit log (DESIGN.md "Audit log"): every change on a profile and every security event of
//! an account leaves an entry, written in the same transaction as the change it records (the
//! change's rule adds [`Audit::write`] to its `Tx`), and the two lists that read them back.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::cursor;
use super::records::{Action, Actor, AuditRecord, Target};
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Item, Query, Write};

/// How long an entry is kept (its `ttl`).
pub const KEPT_DAYS: i64 = 180;

/// Who acts, in which request: handed by the handler to every rule that changes something.
#[derive(Clone, Debug)]
pub struct Audit {
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl Audit {
    pub fn new(actor: Actor, request_id: Option<String>) -> Self {
        Audit { actor, request_id }
    }

    /// Tenantry itself, outside any request (the maintenance job).
    pub fn system() -> Self {
        Audit::new(Actor::system(), None)
    }

    /// The same request, another actor (a login acts as the account it opens).
    pub fn by(&self, actor: Actor) -> Self {
        Audit::new(actor, self.request_id.clone())
    }

    /// The entry of `action` on `target` in the log of `scope`, with the names of the fields it
    /// set: a put of a new item, to add to the change's transaction.
    pub fn write(
        &self,
        now: DateTime<Utc>,
        scope: Scope,
        action: Action,
        target: Target,
        fields: &[&str],
    ) -> Decided<Write> {
        let record = AuditRecord {
            id: Uuid::now_v7(),
            at: now,
            actor: self.actor,
            action,
            target,
            request_id: self.request_id.clone(),
            fields: fields.iter().map(|field| (*field).to_owned()).collect(),
            ttl: (now + Duration::days(KEPT_DAYS)).timestamp(),
        };
        let key = keys::audit_entry(&scope.partition(), record.id);
        Ok(Write::put_new(keys::to_item(&key, &record)?))
    }
}

/// Whose log an entry joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Profile(Uuid),
    Account(Uuid),
}

impl Scope {
    fn partition(self) -> String {
        match self {
            Scope::Profile(pid) => keys::profile_partition(pid),
            Scope::Account(aid) => keys::account_partition(aid),
        }
    }

    fn list_name(self) -> &'static str {
        match self {
            Scope::Profile(_) => "audit-profile",
            Scope::Account(_) => "audit-account",
        }
    }

    fn id(self) -> Uuid {
        match self {
            Scope::Profile(id) | Scope::Account(id) => id,
        }
    }
}

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;
/// The most entries one request reads when filters drop some: past it, the page ends early
/// with a cursor that reads on.
const BUDGET: usize = 500;

/// What a list asks for.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub action: Option<String>,
    /// An actor's id (account, token or run user), or `system`.
    pub actor: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

pub struct AuditPage {
    pub entries: Vec<AuditRecord>,
    pub next_cursor: Option<String>,
}

/// One page of `scope`'s entries, newest first, between `start` and `end` (key bounds: the
/// ids are UUID v7), of one `action` and one `actor` when given.
pub async fn list(app: &App, scope: Scope, query: AuditQuery) -> Decided<AuditPage> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Refusal::invalid("limit", format!("from 1 to {MAX_LIMIT}")));
    }
    let action = match query.action.as_deref() {
        Some(name) => Some(
            Action::named(name).ok_or_else(|| Refusal::invalid("action", "not an audit action"))?,
        ),
        None => None,
    };
    let actor = query.actor.as_deref().map(actor_filter).transpose()?;
    if let (Some(start), Some(end)) = (query.start, query.end)
        && start > end
    {
        return Err(Refusal::invalid("end", "must not be before start"));
    }
    let first = query.start.map_or(0, |at| at.timestamp_millis());
    let last = query.end.map_or(i64::MAX, |at| at.timestamp_millis());
    let (from, to) = keys::audit_range(first, last);
    let key = cursor::key(app).await?;
    let mut resume = match &query.cursor {
        Some(text) => Some(cursor::decode(&key, scope.list_name(), scope.id(), text)?),
        None => None,
    };
    let mut entries: Vec<AuditRecord> = Vec::new();
    let mut examined = 0;
    let name = scope.list_name();
    loop {
        let page = app
            .table
            .query(
                Query::partition(scope.partition())
                    .between(from.clone(), to.clone())
                    .backward()
                    .limit(limit + 1 - entries.len())
                    .after(resume.take()),
            )
            .await?;
        for item in page.items {
            examined += 1;
            let position = position_of(&item).ok_or(Refusal::Internal)?;
            let record: AuditRecord = keys::from_item(item)?;
            let wanted = action.is_none_or(|action| record.action == action)
                && actor.as_ref().is_none_or(|actor| actor.matches(&record));
            if wanted {
                if let Some(last) = entries.last().filter(|_| entries.len() == limit) {
                    // One more exists: the page ends at the last entry it holds.
                    let at = keys_item(scope, last.id);
                    let next = cursor::encode(&key, name, scope.id(), &at)?;
                    return Ok(AuditPage {
                        entries,
                        next_cursor: Some(next),
                    });
                }
                entries.push(record);
            }
            if examined >= BUDGET {
                // Out of budget: the next page reads on after this entry.
                let next = cursor::encode(&key, name, scope.id(), &position)?;
                return Ok(AuditPage {
                    entries,
                    next_cursor: Some(next),
                });
            }
        }
        match page.next {
            Some(next) => resume = Some(next),
            None => {
                return Ok(AuditPage {
                    entries,
                    next_cursor: None,
                });
            }
        }
    }
}

/// The store key (`PK`, `SK`) of an item, to resume after it.
fn position_of(item: &Item) -> Option<Item> {
    let mut key = Item::new();
    key.insert("PK".into(), item.get("PK")?.clone());
    key.insert("SK".into(), item.get("SK")?.clone());
    Some(key)
}

fn keys_item(scope: Scope, id: Uuid) -> Item {
    let key = keys::audit_entry(&scope.partition(), id);
    let mut item = Item::new();
    item.insert("PK".into(), key.pk.into());
    item.insert("SK".into(), key.sk.into());
    item
}

enum ActorFilter {
    System,
    Id(Uuid),
}

impl ActorFilter {
    fn matches(&self, record: &AuditRecord) -> bool {
        match self {
            ActorFilter::System => record.actor.id.is_none(),
            ActorFilter::Id(id) => record.actor.id == Some(*id),
        }
    }
}

fn actor_filter(text: &str) -> Decided<ActorFilter> {
    if text == "system" {
        return Ok(ActorFilter::System);
    }
    Uuid::parse_str(text)
        .map(ActorFilter::Id)
        .map_err(|_| Refusal::invalid("actor", "an actor's id, or `system`"))
}
