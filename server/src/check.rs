//! `tenantry-local check`: the invariant checker (`shared::check`) as an operator's command.
//!
//! Reads the embedded store at `$TENANTRY_DATA_DIR/tenantry.redb`, or the DynamoDB table
//! `$TABLE_NAME` when it is set, with a scan (every item: a maintenance job, not a request).
//! Prints the report as JSON on stdout and a one-line summary on stderr. Exit code: 0 when
//! clean, 1 with violations, 2 when the check could not run.
//!
//! The embedded store is locked while a local server runs on it: stop the server first. The
//! check writes nothing (opening the file only makes sure its tables exist).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use shared::store::Table;
use shared::store::dynamo::DynamoTable;
use shared::store::embedded::EmbeddedTable;

/// Exit code of a clean check.
pub const CLEAN: i32 = 0;
/// Exit code of a check that found violations.
pub const VIOLATIONS: i32 = 1;
/// Exit code of a check that could not run.
pub const FAILED: i32 = 2;

/// Runs the check and answers the process's exit code.
pub async fn run(data_dir: &Path) -> i32 {
    match check(data_dir).await {
        Ok(report) => {
            match serde_json::to_string_pretty(&report) {
                Ok(json) => println!("{json}"),
                Err(error) => {
                    eprintln!("tenantry-local check: {error}");
                    return FAILED;
                }
            }
            eprintln!(
                "{} items read, {} violations, {} notices",
                report.items_read,
                report.violations.len(),
                report.notices.len()
            );
            if report.is_clean() { CLEAN } else { VIOLATIONS }
        }
        Err(error) => {
            eprintln!("tenantry-local check: {error:#}");
            FAILED
        }
    }
}

async fn check(data_dir: &Path) -> anyhow::Result<shared::check::Report> {
    let table = open(data_dir).await?;
    shared::check::check_table(table.as_ref())
        .await
        .context("reading the table")
}

async fn open(data_dir: &Path) -> anyhow::Result<Arc<dyn Table>> {
    if let Ok(name) = std::env::var("TABLE_NAME")
        && !name.is_empty()
    {
        let client = DynamoTable::client(shared::aws::config().await);
        return Ok(Arc::new(DynamoTable::new(client, name)));
    }
    let path = data_dir.join("tenantry.redb");
    // Never create an empty store just to find it clean.
    anyhow::ensure!(
        path.is_file(),
        "no embedded store at {} (set TENANTRY_DATA_DIR, or TABLE_NAME for DynamoDB)",
        path.display()
    );
    let table = EmbeddedTable::open(&path).with_context(|| {
        format!(
            "opening the embedded store at {} (it is locked while a local server runs on it: \
             stop the server first)",
            path.display()
        )
    })?;
    Ok(Arc::new(table))
}
