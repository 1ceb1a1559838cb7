//! The scheduled maintenance job (DESIGN.md "Scheduled maintenance"), driven by the app's
//! clock: token expiry warnings 7 days and 1 day before (exactly once each, even when two runs
//! overlap), none for a revoked token, and unverified accounts deleted after 7 days. On both
//! adapters with the local outbox, and once through the SES emulator.

use std::sync::Arc;

use chrono::{Duration, SecondsFormat};
use http::StatusCode;
use serde_json::json;
use shared::mail::{DEFAULT_FROM, Mailer, OutboxMailer, SesMailer};
use shared::maintenance;
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::{fixtures, mailbox};

tenantry_tests::on_both_adapters!(warnings_go_once_each_and_stale_accounts_go,);

fn unique(label: &str) -> String {
    format!("{label}-{}@example.com", uuid::Uuid::now_v7().simple())
}

/// A token of ann's first profile that expires in `days`; its id.
async fn token(api: &Api, token: &str, pid: &str, days: i64) -> String {
    let expires_at =
        (api.app.now() + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let issued = api
        .post(
            &format!("/v1/profiles/{pid}/tokens"),
            Some(token),
            json!({"name": "deploy", "permission": "read", "expires_at": expires_at, "password": PASSWORD}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    issued.str("id")
}

/// Two runs at once, as two overlapping schedules would make them.
async fn run_twice_at_once(api: &Api, mailer: &dyn Mailer) {
    let (first, second) = tokio::join!(
        maintenance::run(&api.app, mailer),
        maintenance::run(&api.app, mailer)
    );
    first.expect("a run");
    second.expect("a run");
}

async fn warnings_go_once_each_and_stale_accounts_go(api: Api) {
    let outbox = tempfile::tempdir().expect("a directory");
    let mailer = OutboxMailer::new(outbox.path().to_path_buf(), DEFAULT_FROM.to_owned());
    let ann = api.account(&unique("ann")).await;
    token(&api, &ann.token, &ann.pid, 10).await;
    let revoked = token(&api, &ann.token, &ann.pid, 10).await;
    let gone = api
        .delete(
            &format!("/v1/profiles/{}/tokens/{revoked}", ann.pid),
            &ann.token,
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let bob = api.unverified_account(&unique("bob")).await;
    let subjects = || -> Vec<String> {
        mailbox::outbox_messages_to(outbox.path(), &ann.email)
            .into_iter()
            .filter_map(|(_, eml)| mailbox::header_values(&eml, "Subject").into_iter().next())
            .collect()
    };

    run_twice_at_once(&api, &mailer).await;
    assert!(
        subjects().is_empty(),
        "nothing is due yet: {:?}",
        subjects()
    );

    // 7 days before the expiry (and a minute): one warning, whatever runs at once.
    api.app
        .clock
        .advance(Duration::days(3) + Duration::minutes(1));
    run_twice_at_once(&api, &mailer).await;
    run_twice_at_once(&api, &mailer).await;
    assert_eq!(subjects().len(), 1, "{:?}", subjects());
    assert!(subjects()[0].contains("7 days"), "{:?}", subjects());

    // 1 day before it: the second warning, once.
    api.app.clock.advance(Duration::days(6));
    run_twice_at_once(&api, &mailer).await;
    run_twice_at_once(&api, &mailer).await;
    let sent = subjects();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent.iter().filter(|s| s.contains("1 day")).count(),
        1,
        "{sent:?}"
    );
    // The revoked token (same name, same expiry) warned nobody: two e-mails in all.

    // Bob never verified: 7 days on, his account is gone, with a record of who removed it.
    let bob_aid: uuid::Uuid = bob.aid.parse().expect("an id");
    let ann_aid: uuid::Uuid = ann.aid.parse().expect("an id");
    let table = api.app.table.as_ref();
    assert!(
        table
            .get(&shared::keys::account(bob_aid))
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        table
            .get(&shared::keys::account(ann_aid))
            .await
            .expect("get")
            .is_some()
    );
    let left = api.snapshot().await;
    let record = left
        .iter()
        .find(|item| {
            item["PK"] == format!("ACCOUNT#{bob_aid}") && item["action"] == "account.deleted"
        })
        .expect("the deletion is recorded");
    assert_eq!(record["actor"], json!({"kind": "system"}));
    // Nothing is left due: every marker was handled or found moot.
    assert!(
        !left
            .iter()
            .any(|item| item["PK"].as_str().is_some_and(|pk| pk.starts_with("DUE#"))),
        "markers left"
    );
    let report = shared::check::check_table(table).await.expect("a check");
    assert!(report.is_clean(), "{:#?}", report.violations);
}

/// The same warning through SES (the emulator), two runs at once: one e-mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_through_ses_goes_once() {
    let endpoint = std::env::var("SES_TEST_ENDPOINT").expect("SES_TEST_ENDPOINT");
    let mailer = SesMailer::new(fixtures::ses_client().await, DEFAULT_FROM.to_owned());
    let api = Api::new(fixtures::embedded_table().await);
    let ann = api.account(&unique("ses-ann")).await;
    token(&api, &ann.token, &ann.pid, 8).await;
    api.app
        .clock
        .advance(Duration::days(1) + Duration::minutes(1));
    let mailer: Arc<dyn Mailer> = Arc::new(mailer);
    run_twice_at_once(&api, mailer.as_ref()).await;
    run_twice_at_once(&api, mailer.as_ref()).await;
    let store = mailbox::ses_store(&endpoint).await;
    let sent = mailbox::ses_emails_to(&store, &ann.email);
    assert_eq!(sent.len(), 1, "{sent:?}");
}
