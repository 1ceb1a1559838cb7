//! `tenantry-local check` as an operator runs it: the real binary on a data directory written
//! through the real routes (in-process, on the same embedded store file). Clean data: exit 0 and
//! a JSON report; one planted violation: exit 1 naming it; a store in use, or none: exit 2.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{Value, json};
use shared::email::Email;
use shared::keys;
use shared::store::Table;
use shared::store::embedded::EmbeddedTable;
use tenantry_tests::api::Api;

fn store(dir: &Path) -> EmbeddedTable {
    EmbeddedTable::open(dir.join("tenantry.redb")).expect("the embedded store opens")
}

fn check(dir: &Path) -> (i32, Value, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_tenantry-local"))
        .arg("check")
        .env("TENANTRY_DATA_DIR", dir)
        .env_remove("TABLE_NAME")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the check runs");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let report = serde_json::from_slice(&stdout).unwrap_or(Value::Null);
    (status.code().expect("an exit code"), report, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_clean_data_then_a_planted_violation() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let api = Api::new(Arc::new(store(dir.path())));
        let ann = api.account("ann@example.com").await;
        let users = format!("/v1/profiles/{}/run/users", ann.pid);
        let created = api
            .post(
                &users,
                Some(&ann.token),
                json!({"email": "rita@example.com", "name": "Rita",
                       "tags": [{"key": "team", "value": "eng"}]}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }

    let (code, report, stderr) = check(dir.path());
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert!(report["items_read"].as_u64().unwrap_or(0) > 5, "{report:#}");
    assert_eq!(report["violations"], json!([]), "{report:#}");
    assert!(stderr.contains("0 violations"), "{stderr}");

    // While the store is open (as a running server holds it), the check cannot open it and says
    // why.
    {
        let table = store(dir.path());
        let (code, report, stderr) = check(dir.path());
        assert_eq!(code, 2, "{stderr}\n{report:#}");
        assert!(stderr.contains("stop the server first"), "{stderr}");
        // Plant one violation: ann's e-mail claim goes.
        let claim = keys::email_claim(&Email::parse("ann@example.com").expect("an e-mail"));
        table.delete(&claim, None).await.expect("deleted");
    }
    let (code, report, stderr) = check(dir.path());
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    let violations = report["violations"].as_array().expect("violations");
    assert_eq!(violations.len(), 1, "{report:#}");
    assert_eq!(violations[0]["rule"], "account-email-claim");
    assert!(
        violations[0]["key"]
            .as_str()
            .is_some_and(|key| key.starts_with("ACCOUNT#") && key.ends_with("| ACCOUNT")),
        "{report:#}"
    );
}

#[test]
fn check_without_a_store_fails_and_creates_none() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (code, _, stderr) = check(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no embedded store"), "{stderr}");
    assert!(!dir.path().join("tenantry.redb").exists());
}
