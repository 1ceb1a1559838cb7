//! The CSV export of a profile's run users (DESIGN.md "CSV export"): the list's filters and
//! order, read in chunks by the list's [`Reader`], each chunk written as CSV rows as soon as it
//! is read, so memory holds one chunk however many users there are.
//!
//! Columns: `id,email,name,active,created_at,last_login`, then one per tag key ever used in the
//! profile, sorted (from the registry the tag writes keep, so one pass over the users suffices).
//! RFC 4180 with CRLF (the `csv` crate); a cell that starts with `=`, `+`, `-`, `@`, a tab or a
//! carriage return is prefixed with `'`, so no spreadsheet runs it as a formula.

use std::borrow::Cow;

use chrono::SecondsFormat;
use uuid::Uuid;

use super::index;
use super::list::{ListQuery, filters};
use super::reader::Reader;
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};

/// The columns every export starts with.
pub const FIXED_COLUMNS: [&str; 6] = ["id", "email", "name", "active", "created_at", "last_login"];

/// Entries read per chunk.
pub const CHUNK: usize = 100;

/// A cell as written: neutralised when a spreadsheet would take it for a formula.
pub fn cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// An export under way.
pub struct Export {
    reader: Reader,
    tag_keys: Vec<String>,
    done: bool,
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Decided<Vec<u8>> {
    writer.into_inner().map_err(|_| Refusal::Internal)
}

/// Opens the export of profile `pid`'s run users for `query` (its filters and order; paging
/// fields are not used), resuming after user `after` when given.
pub async fn open(app: &App, pid: Uuid, query: &ListQuery, after: Option<Uuid>) -> Decided<Export> {
    let filters = filters(query)?;
    let mut reader = Reader::new(pid, filters, query.order, &[]);
    if let Some(after) = after {
        let user = app.table.get(&keys::run_user(pid, after)).await?;
        let positions = match user {
            Some(item) => reader.positions_after(&keys::from_item(item)?),
            // A user deleted since still marks a place in creation order.
            None if reader.resumes_by_id() => vec![Some(keys::run_user(pid, after).sk)],
            None => {
                return Err(Refusal::invalid(
                    "after",
                    "no such run user in this profile",
                ));
            }
        };
        reader = reader.starting_at(&positions);
    }
    Ok(Export {
        reader,
        tag_keys: index::tag_keys(app, pid).await?,
        done: false,
    })
}

impl Export {
    /// The header line.
    pub fn header(&self) -> Decided<Vec<u8>> {
        let mut writer = writer();
        let columns = FIXED_COLUMNS
            .iter()
            .map(|column| Cow::Borrowed(*column))
            .chain(self.tag_keys.iter().map(|key| cell(key)));
        writer
            .write_record(columns.map(|column| column.into_owned()))
            .map_err(|_| Refusal::Internal)?;
        finish(writer)
    }

    /// The next rows (of up to [`CHUNK`] users read), or `None` once every user was written.
    pub async fn next_rows(&mut self, app: &App) -> Decided<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let (found, read) = self.reader.read(app, CHUNK).await?;
        if read == 0 {
            self.done = true;
            return Ok(None);
        }
        let mut writer = writer();
        for found in found {
            let user = found.user;
            let id = user.uid.to_string();
            let created_at = user.created_at.to_rfc3339_opts(SecondsFormat::Secs, true);
            let last_login = user
                .last_login
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            let mut row: Vec<String> = [
                id.as_str(),
                user.email.as_str(),
                user.name.as_str(),
                if user.active { "true" } else { "false" },
                created_at.as_str(),
                last_login.as_str(),
            ]
            .iter()
            .map(|text| cell(text).into_owned())
            .collect();
            row.extend(
                self.tag_keys
                    .iter()
                    .map(|key| cell(user.tag(key).unwrap_or("")).into_owned()),
            );
            writer.write_record(&row).map_err(|_| Refusal::Internal)?;
        }
        finish(writer).map(Some)
    }
}

/// The attachment's file name: `run-users-<pid>-<yyyy-mm-dd>.csv`.
pub fn file_name(app: &App, pid: Uuid) -> String {
    format!("run-users-{pid}-{}.csv", app.now().format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised() {
        for dangerous in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(cell(dangerous), format!("'{dangerous}"));
        }
        for safe in ["plain", "1-2", "a=b", "", "'quoted"] {
            assert_eq!(cell(safe), safe);
        }
    }
}
