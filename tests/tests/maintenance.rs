//! The scheduled maintenance job (DESIGN.md "Scheduled maintenance"), driven by the app's
//! clock: token expiry warnings 7 days and 1 day before (exactly once each, even when two runs
//! overlap), none for a revoked token, unverified accounts deleted after 7 days, invitations
//! past their 7 days marked `expired` (once, with an entry by the system). On both
//! adapters with the local outbox, and once through the SES emulator.

use std::sync::Arc;

use chrono::{Duration, SecondsFormat};
use http::StatusCode;
use serde_json::json;
use shared::mail::{DEFAULT_FROM, Mailer, OutboxMailer, SesMailer};
use shared::maintenance;
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::{fixtures, mailbox};

tenantry_tests::on_both_adapters!(
    warnings_go_once_each_and_stale_accounts_go,
    invitations_past_their_time_are_marked_expired_once,
);

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

async fn invite(api: &Api, pid: &str, token: &str, email: &str) -> String {
    let invited = api
        .post(
            &format!("/v1/profiles/{pid}/team"),
            Some(token),
            json!({"email": email, "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    invited.str("id")
}

/// The stored status of invitation `iid` (not the one computed for a reply).
async fn stored_status(api: &Api, iid: &str) -> String {
    let found = api
        .snapshot()
        .await
        .into_iter()
        .find(|item| item["SK"] == format!("INVITE#{iid}"))
        .expect("the invitation");
    found["status"].as_str().expect("a status").to_owned()
}

/// The profile's `invitation.expired` entries, by invitation.
async fn expiry_entries(api: &Api, pid: &str, token: &str) -> Vec<String> {
    let log = api
        .get(
            &format!("/v1/profiles/{pid}/audit?action=invitation.expired"),
            token,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    log.json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            assert_eq!(entry["actor"], json!({"kind": "system"}), "{entry}");
            entry["target"]["id"].as_str().expect("an id").to_owned()
        })
        .collect()
}

async fn invitations_past_their_time_are_marked_expired_once(api: Api) {
    let outbox = tempfile::tempdir().expect("a directory");
    let mailer = OutboxMailer::new(outbox.path().to_path_buf(), DEFAULT_FROM.to_owned());
    let ann = api.account(&unique("ann")).await;
    let bob = api.account(&unique("bob")).await;
    let cyd = api.account(&unique("cyd")).await;
    let to_bob = invite(&api, &ann.pid, &ann.token, &bob.email).await;
    api.app.clock.advance(Duration::days(3));
    let owner = api.login(&ann.email, PASSWORD).await;
    let to_cyd = invite(&api, &ann.pid, &owner, &cyd.email).await;

    // Bob's is 7 days old and an hour (a session lasts a day: log in again).
    api.app
        .clock
        .advance(Duration::days(4) + Duration::hours(1));
    let owner = api.login(&ann.email, PASSWORD).await;
    run_twice_at_once(&api, &mailer).await;
    run_twice_at_once(&api, &mailer).await;
    assert_eq!(stored_status(&api, &to_bob).await, "expired");
    assert_eq!(stored_status(&api, &to_cyd).await, "pending");
    assert_eq!(
        expiry_entries(&api, &ann.pid, &owner).await,
        vec![to_bob.clone()]
    );
    let team = api
        .get(&format!("/v1/profiles/{}/team", ann.pid), &owner)
        .await;
    let listed: Vec<(String, String)> = team.json["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_owned(),
                i["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        listed.contains(&(to_bob.clone(), "expired".into())),
        "{listed:?}"
    );
    assert!(
        listed.contains(&(to_cyd.clone(), "pending".into())),
        "{listed:?}"
    );
    let bobs = api.login(&bob.email, PASSWORD).await;
    let mine = api.get("/v1/account/invitations", &bobs).await;
    assert_eq!(mine.json["invitations"], json!([]), "{}", mine.text);
    let late = api
        .post(
            &format!("/v1/invitations/{to_bob}/accept"),
            Some(&bobs),
            json!({}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text);

    // Marked expired, it can still be resent (pending again, a new week) or revoked.
    let resent = api
        .post(
            &format!("/v1/profiles/{}/invitations/{to_bob}/resend", ann.pid),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    assert_eq!(stored_status(&api, &to_bob).await, "pending");

    // Cyd's runs out next; bob's resent one (and its first marker, now moot) does not.
    api.app.clock.advance(Duration::days(3));
    let owner = api.login(&ann.email, PASSWORD).await;
    run_twice_at_once(&api, &mailer).await;
    assert_eq!(stored_status(&api, &to_bob).await, "pending");
    assert_eq!(stored_status(&api, &to_cyd).await, "expired");
    let revoked = api
        .delete(
            &format!("/v1/profiles/{}/invitations/{to_cyd}", ann.pid),
            &owner,
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    assert_eq!(stored_status(&api, &to_cyd).await, "revoked");
    let bobs = api.login(&bob.email, PASSWORD).await;
    let accepted = api
        .post(
            &format!("/v1/invitations/{to_bob}/accept"),
            Some(&bobs),
            json!({}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);

    // A week on, nothing else expires: one entry per invitation that ran out.
    api.app.clock.advance(Duration::days(7));
    let owner = api.login(&ann.email, PASSWORD).await;
    run_twice_at_once(&api, &mailer).await;
    let mut entries = expiry_entries(&api, &ann.pid, &owner).await;
    entries.sort();
    let mut expected = vec![to_bob, to_cyd];
    expected.sort();
    assert_eq!(entries, expected);
    let left = api.snapshot().await;
    assert!(
        !left.iter().any(|item| item["PK"]
            .as_str()
            .is_some_and(|pk| pk.starts_with("DUE#INVITE"))
            || item["SK"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("INVITEEXP#"))),
        "invitation markers left"
    );
    let report = shared::check::check_table(api.app.table.as_ref())
        .await
        .expect("a check");
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
