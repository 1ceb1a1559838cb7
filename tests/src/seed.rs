//! Run users written straight into a table, for the tests and benches that need hundreds of
//! thousands of them (creating each through the route would take minutes): the same items
//! `run_users::create` writes, built from the same record type, keys and index code.

use chrono::{DateTime, Utc};
use shared::domain::records::{RunUserEntry, RunUserRecord, Tag};
use shared::domain::run_users::index;
use shared::email::Email;
use shared::keys;
use shared::store::Write;
use uuid::Uuid;

/// A run user of profile `pid` as `run_users::create` makes one without a password.
pub fn run_user(
    pid: Uuid,
    email: &str,
    name: String,
    company: Option<String>,
    tags: Vec<Tag>,
    now: DateTime<Utc>,
) -> RunUserRecord {
    RunUserRecord {
        uid: Uuid::now_v7(),
        pid,
        email: Email::parse(email).expect("a valid e-mail"),
        name,
        timezone: None,
        company,
        phone: None,
        language: None,
        tags,
        active: true,
        created_at: now,
        updated_at: now,
        last_login: None,
        password_hash: None,
        session_version: 0,
        revision: 0,
    }
}

/// The record and the e-mail claim of `user`, each written only if absent: enough for what reads
/// users in creation order (the export without filters), a third of the items of
/// [`run_user_writes`] (DynamoDB Local writes slowly to a table with a stream).
pub fn run_user_items(user: &RunUserRecord) -> Vec<Write> {
    vec![
        Write::put_new(keys::to_item(&keys::run_user(user.pid, user.uid), user).expect("an item")),
        Write::put_new(
            keys::to_item(
                &keys::run_email_claim(user.pid, &user.email),
                &RunUserEntry { uid: user.uid },
            )
            .expect("an item"),
        ),
    ]
}

/// Every item of `user` (record, e-mail claim, list entries), each written only if absent,
/// without the `run_users` gauge and the tag-key registry: the caller raises and registers
/// those once for all the users it writes.
pub fn run_user_writes(user: &RunUserRecord) -> Vec<Write> {
    let mut writes = run_user_items(user);
    writes.extend(
        index::changes(None, Some(user))
            .expect("the user's entries")
            .put,
    );
    writes
}
