//! Notifications end to end, on both adapters, through the real change feeds and real mail:
//! - embedded: the store's change feed → `notify::handle_batch` → the outbox (`.eml` files);
//! - DynamoDB: DynamoDB Local's stream, read with the Streams API and handed over in the shape
//!   Lambda delivers → `stream::handle_lambda_payload` → SES (the `aws-ses-v2-local` emulator).
//!
//! Each delivery hands over the whole feed from its start, so every delivery is also a replay of
//! everything before it: the sent-markers must keep those from sending anything twice.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;
use shared::mail::Mailer;
use shared::mail::outbox::OutboxMailer;
use shared::mail::ses::SesMailer;
use shared::notify::StreamEvent;
use shared::store::dynamo::DynamoTable;
use shared::store::embedded::EmbeddedTable;
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::fixtures;
use tenantry_tests::mailbox::{self, invitation_secret as secret_in};
use tenantry_tests::world::{person, profile};

enum Feed {
    Embedded(EmbeddedTable, tempfile::TempDir),
    Dynamo(DynamoTable),
}

struct Setup {
    api: Api,
    feed: Feed,
    mailer: Arc<dyn Mailer>,
}

/// One message as received: subject and text body.
#[derive(Debug, Clone)]
struct Received {
    subject: String,
    text: String,
}

impl Setup {
    async fn embedded() -> Setup {
        let table = fixtures::embedded();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mailer = Arc::new(OutboxMailer::new(
            dir.path().join("outbox"),
            "Tenantry <no-reply@tenantry.local>".into(),
        ));
        Setup {
            api: Api::new(Arc::new(table.clone())),
            feed: Feed::Embedded(table, dir),
            mailer,
        }
    }

    async fn dynamo() -> Setup {
        let table = fixtures::dynamo().await;
        let mailer = Arc::new(SesMailer::new(
            fixtures::ses_client().await,
            "no-reply@tenantry.test".into(),
        ));
        Setup {
            api: Api::new(Arc::new(table.clone())),
            feed: Feed::Dynamo(table),
            mailer,
        }
    }

    /// Hands the whole feed to the handler; returns the ids of failed records.
    async fn deliver(&self) -> Vec<String> {
        match &self.feed {
            Feed::Embedded(table, _) => {
                let changes = table.changes_after(0, 100_000).await.expect("the feed");
                let events = changes
                    .into_iter()
                    .map(|(seq, change)| StreamEvent {
                        id: seq.to_string(),
                        change,
                    })
                    .collect();
                shared::notify::handle_batch(&self.api.app, self.mailer.as_ref(), events).await
            }
            Feed::Dynamo(table) => {
                let payload = tenantry_tests::streams::read_stream_as_lambda_event(
                    table.inner_client(),
                    table.table_name(),
                )
                .await;
                let response = shared::stream::handle_lambda_payload(
                    &self.api.app,
                    self.mailer.as_ref(),
                    payload,
                )
                .await
                .expect("a readable batch");
                response
                    .batch_item_failures
                    .into_iter()
                    .filter_map(|f| f.item_identifier)
                    .collect()
            }
        }
    }

    async fn inbox(&self, to: &str) -> Vec<Received> {
        match &self.feed {
            Feed::Embedded(_, dir) => mailbox::outbox_messages_to(dir.path().join("outbox"), to)
                .into_iter()
                .map(|(_, eml)| Received {
                    subject: mailbox::header_values(&eml, "Subject")
                        .into_iter()
                        .next()
                        .unwrap_or_default(),
                    text: mailbox::eml_parts(&eml)
                        .into_iter()
                        .find(|p| {
                            p.header("Content-Type")
                                .is_some_and(|c| c.starts_with("text/plain"))
                        })
                        .map(|p| p.body)
                        .unwrap_or_default(),
                })
                .collect(),
            Feed::Dynamo(_) => {
                let store = mailbox::ses_store(&fixtures::ses_test_endpoint()).await;
                mailbox::ses_emails_to(&store, to)
                    .into_iter()
                    .map(|m| Received {
                        subject: m["subject"].as_str().unwrap_or_default().to_owned(),
                        text: m["body"]["text"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_flow_embedded() {
    invitation_flow(Setup::embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_flow_dynamodb() {
    invitation_flow(Setup::dynamo().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_alerts_embedded() {
    usage_alerts(Setup::embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_alerts_dynamodb() {
    usage_alerts(Setup::dynamo().await).await;
}

/// invite → e-mail with a link → accept with the link's secret → member; replays send nothing;
/// a resend makes the old link stale; the owner hears of the acceptance.
async fn invitation_flow(setup: Setup) {
    let api = &setup.api;
    let (owner, _) = person(api, "owner").await;
    let (guest, _) = person(api, "guest").await;
    // Names cannot hold a CR/LF at all (refused at the door); markup in one is escaped in HTML.
    let pid = profile(api, &owner, "Acme <b>& Co</b>").await;
    let invited = api
        .post(
            &format!("/v1/profiles/{pid}/team"),
            Some(&owner.session),
            json!({"email": guest.email, "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    let iid = invited.str("id");

    assert_eq!(setup.deliver().await, Vec::<String>::new());
    let mail = setup.inbox(&guest.email).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(
        mail[0].subject.contains("invited you"),
        "{:?}",
        mail[0].subject
    );
    assert!(
        mail[0].subject.contains("Acme <b>& Co</b>"),
        "{:?}",
        mail[0].subject
    );
    let first = secret_in(&mail[0].text);
    assert!(
        mail[0].text.contains(&format!("/invitations/{iid}")),
        "{}",
        mail[0].text
    );

    // A replay of everything so far sends nothing new.
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    assert_eq!(setup.inbox(&guest.email).await.len(), 1);

    // A resend: a new e-mail, a new link; the old one is refused.
    let resent = api
        .post(
            &format!("/v1/profiles/{pid}/invitations/{iid}/resend"),
            Some(&owner.session),
            json!({}),
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    let mail = setup.inbox(&guest.email).await;
    assert_eq!(mail.len(), 2, "{mail:?}");
    let second = secret_in(&mail[1].text);
    assert_ne!(first, second);
    let stale = api
        .post(
            &format!("/v1/invitations/{iid}/accept"),
            None,
            json!({"token": first}),
        )
        .await;
    assert!(
        matches!(
            stale.status,
            StatusCode::UNAUTHORIZED | StatusCode::CONFLICT
        ),
        "{}",
        stale.text
    );
    let mistyped = api
        .post(
            &format!("/v1/invitations/{iid}/accept"),
            None,
            json!({"token": format!("{second}x")}),
        )
        .await;
    assert_eq!(mistyped.status, StatusCode::UNAUTHORIZED);

    // The link's secret is all it takes, signed in or not.
    let accepted = api
        .post(
            &format!("/v1/invitations/{iid}/accept"),
            None,
            json!({"token": second}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    let again = api
        .post(
            &format!("/v1/invitations/{iid}/accept"),
            None,
            json!({"token": second}),
        )
        .await;
    assert!(
        matches!(
            again.status,
            StatusCode::UNAUTHORIZED | StatusCode::CONFLICT
        ),
        "{}",
        again.text
    );
    let team = api
        .get(&format!("/v1/profiles/{pid}/team"), &owner.session)
        .await;
    assert!(team.text.contains(&guest.aid.to_string()), "{}", team.text);
    assert_eq!(
        api.get(&format!("/v1/profiles/{pid}"), &guest.session)
            .await
            .status,
        StatusCode::OK
    );

    // The owner hears of it, once.
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    let owner_mail = setup.inbox(&owner.email).await;
    assert_eq!(owner_mail.len(), 1, "{owner_mail:?}");
    assert!(
        owner_mail[0].subject.contains("joined"),
        "{:?}",
        owner_mail[0].subject
    );
    assert_eq!(
        setup.inbox(&guest.email).await.len(),
        2,
        "nothing more for the guest"
    );
}

/// A profile's use crossing 80 %, 90 % and 100 % of a limit e-mails its owner, once each.
async fn usage_alerts(setup: Setup) {
    let api = &setup.api;
    let (owner, pid) = person(api, "owner").await;
    let limits = api
        .call(
            Method::PUT,
            &format!("/v1/profiles/{pid}/limits"),
            Some(&owner.session),
            Some(json!({"tokens": 10})),
        )
        .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    let tokens = format!("/v1/profiles/{pid}/tokens");
    let issue = || {
        api.post(
            &tokens,
            Some(&owner.session),
            json!({"name": "t", "permission": "read", "expires_in": "1 day", "password": PASSWORD}),
        )
    };
    for _ in 0..7 {
        assert_eq!(issue().await.status, StatusCode::CREATED);
    }
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    assert_eq!(
        setup.inbox(&owner.email).await.len(),
        0,
        "70 % alerts nobody"
    );
    assert_eq!(issue().await.status, StatusCode::CREATED);
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    let mail = setup.inbox(&owner.email).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].subject.contains("80 %"), "{:?}", mail[0].subject);
    assert!(mail[0].text.contains("tokens: 8 of 10"), "{}", mail[0].text);
    assert_eq!(issue().await.status, StatusCode::CREATED);
    assert_eq!(issue().await.status, StatusCode::CREATED);
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    let subjects: Vec<String> = setup
        .inbox(&owner.email)
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(
        subjects[1].contains("90 %") && subjects[2].contains("100 %"),
        "{subjects:?}"
    );
    assert_eq!(issue().await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    assert_eq!(setup.inbox(&owner.email).await.len(), 3, "nothing twice");
}

/// An API token removed by TTL (the embedded store's purge here, DynamoDB's TTL in AWS) gives
/// its place back: the `tokens` gauge falls once, replays or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_removed_by_ttl_leave_the_gauge_embedded() {
    let setup = Setup::embedded().await;
    let api = &setup.api;
    let (owner, pid) = person(api, "owner").await;
    let issued = api
        .post(
            &format!("/v1/profiles/{pid}/tokens"),
            Some(&owner.session),
            json!({"name": "t", "permission": "read", "expires_in": "1 hour", "password": PASSWORD}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let used =
        |reply: &tenantry_tests::api::Reply| reply.json["services"]["tokens"]["used"].clone();
    let usage = format!("/v1/profiles/{pid}/usage");
    assert_eq!(used(&api.get(&usage, &owner.session).await), 1);

    let Feed::Embedded(table, _) = &setup.feed else {
        unreachable!("an embedded setup")
    };
    let later = (api.app.now() + chrono::Duration::hours(2)).timestamp();
    // The token has expired by then; the login throttle's window item that issuing it touched
    // (the password is re-entered) may go with it. The token list and the gauge tell.
    let purged = table.purge_expired(later).await.expect("purge");
    assert!((1..=2).contains(&purged), "purged {purged}");
    let tokens = api
        .get(&format!("/v1/profiles/{pid}/tokens"), &owner.session)
        .await;
    assert_eq!(tokens.json["tokens"], json!([]), "{}", tokens.text);
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    assert_eq!(used(&api.get(&usage, &owner.session).await), 0);
    assert_eq!(setup.deliver().await, Vec::<String>::new());
    assert_eq!(
        used(&api.get(&usage, &owner.session).await),
        0,
        "a replay falls nothing"
    );
}

/// DynamoDB's TTL deletions are told from a request's by the record's user identity.
#[test]
fn ttl_removals_are_told_apart_on_the_stream() {
    let record = |identity: serde_json::Value| {
        json!({"Records": [{
            "eventID": "1", "eventName": "REMOVE", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "eventVersion": "1.1",
            "dynamodb": {"Keys": {"PK": {"S": "TOKEN#x"}, "SK": {"S": "TOKEN"}},
                         "OldImage": {"PK": {"S": "TOKEN#x"}, "SK": {"S": "TOKEN"}},
                         "SequenceNumber": "1", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "userIdentity": identity,
        }]})
    };
    let expired = |payload: serde_json::Value| {
        let event: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_value(payload).expect("a stream event");
        let (events, failed) = shared::stream::stream_events(event);
        assert!(failed.is_empty());
        events[0].change.expired
    };
    assert!(expired(record(
        json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
    )));
    assert!(!expired(record(serde_json::Value::Null)));
}
