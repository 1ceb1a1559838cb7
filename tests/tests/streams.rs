//! The DynamoDB Streams path of the notifications, against DynamoDB Local's real Streams API:
//! items written through `DynamoTable` are read back from the table's stream, shaped as the event
//! Lambda delivers, deserialized into `aws_lambda_events`' DynamoDB event and converted by
//! `shared::stream`; a record that cannot be read is reported, alone, as a batch item failure.
//!
//! Needs DynamoDB Local (`scripts/test.sh` starts it and sets `DYNAMODB_ENDPOINT`); without it,
//! these tests fail loudly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use serde_json::{Value, json};
use shared::app::App;
use shared::config::Config;
use shared::mail::{Email, MailError, Mailer};
use shared::notify::StreamEvent;
use shared::store::dynamo::DynamoTable;
use shared::store::{Change, Item, Key, Table, Update};
use tenantry_tests::fixtures::dynamo_client;
use tenantry_tests::streams::read_stream_as_lambda_event;

/// A mailer that keeps what it is asked to send.
#[derive(Default)]
struct Recording {
    sent: Mutex<Vec<Email>>,
}

#[async_trait::async_trait]
impl Mailer for Recording {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let mut sent = self.sent.lock().expect("the mailer's lock");
        sent.push(email.clone());
        Ok(format!("recorded-{}", sent.len()))
    }
}

fn item(value: Value) -> Item {
    match value {
        Value::Object(item) => item,
        other => panic!("not an item: {other}"),
    }
}

/// A fresh table on DynamoDB Local (streams on, new and old images) and its name.
async fn fresh_table() -> (DynamoTable, String) {
    let client = dynamo_client().await;
    // The fixtures' prefix: left-overs are cleaned up by later runs.
    let name = format!("tenantry-test-{}", uuid::Uuid::now_v7().simple());
    DynamoTable::create_table(&client, &name)
        .await
        .unwrap_or_else(|err| panic!("creating table {name} on DynamoDB Local: {err:#}"));
    (DynamoTable::new(client, name.clone()), name)
}

/// Reads the stream until it holds at least `count` records (a bounded wait).
async fn stream_event_json(table: &DynamoTable, name: &str, count: usize) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = read_stream_as_lambda_event(table.inner_client(), name).await;
        let got = event["Records"].as_array().map_or(0, Vec::len);
        if got >= count {
            return event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream of {name} holds {got} records after 30 s, expected {count}: {event:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn record_ids(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .expect("a Records list")
        .iter()
        .map(|record| record["eventID"].as_str().expect("an eventID").to_owned())
        .collect()
}

fn failures(response: &DynamoDbEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.clone().unwrap_or_default())
        .collect()
}

/// Writes an insert, a modification, a removal and another insert; returns the changes they
/// made, as the table port reports them. The keys are of a kind no notification rule looks at,
/// so that handling them succeeds whatever the rules are.
async fn write_changes(table: &DynamoTable) -> Vec<Change> {
    let first_key = Key::new("STREAMTEST#p1", "ITEM#i1");
    let first = item(json!({
        "PK": "STREAMTEST#p1",
        "SK": "ITEM#i1",
        "GSI1PK": "STREAMTEST#ann@example.com",
        "GSI1SK": "ITEM#i1",
        "email": "ann@example.com",
        "role": "member",
        "resent": 0,
        "expires_at": "2030-01-01T00:00:00Z",
        "ttl": 1_893_456_000i64,
        "accepted": false,
        "tags": {"team": "blue", "level": 3},
        "history": ["created", 1],
    }));
    table.put(first.clone(), None).await.expect("put");
    let modified = table
        .update(
            &first_key,
            Update::new()
                .set("status", "accepted")
                .set("accepted", true)
                .add("resent", 2)
                .remove("ttl"),
            None,
        )
        .await
        .expect("update");
    let removed = table
        .delete(&first_key, None)
        .await
        .expect("delete")
        .expect("the deleted item");
    let second = item(json!({
        "PK": "STREAMTEST#p1",
        "SK": "ITEM#2030-01",
        "emails": -7,
        "api_requests": 9_007_199_254_740_993i64,
    }));
    table
        .put(second.clone(), None)
        .await
        .expect("put the second item");

    assert_eq!(removed, modified, "the item deleted is the item modified");
    vec![
        Change {
            key: first_key.clone(),
            old: None,
            new: Some(first.clone()),
            expired: false,
        },
        Change {
            key: first_key.clone(),
            old: Some(first),
            new: Some(modified),
            expired: false,
        },
        Change {
            key: first_key,
            old: Some(removed),
            new: None,
            expired: false,
        },
        Change {
            key: Key::new("STREAMTEST#p1", "ITEM#2030-01"),
            old: None,
            new: Some(second),
            expired: false,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_records_convert_into_the_changes_written() {
    let (table, name) = fresh_table().await;
    let expected = write_changes(&table).await;

    let json = stream_event_json(&table, &name, expected.len()).await;
    let ids = record_ids(&json);
    let names: Vec<&str> = json["Records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["eventName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE", "INSERT"], "{json:#}");

    let event: Event = serde_json::from_value(json.clone())
        .unwrap_or_else(|err| panic!("the stream event deserializes: {err}\n{json:#}"));
    let (events, failed) = shared::stream::stream_events(event.clone());
    assert!(
        failed.is_empty(),
        "records that could not be read: {failed:?}"
    );
    let expected: Vec<StreamEvent> = ids
        .iter()
        .zip(expected)
        .map(|(id, change)| StreamEvent {
            id: id.clone(),
            change,
        })
        .collect();
    assert_eq!(events, expected);

    // The whole Lambda path: nothing fails, nothing is sent.
    let app = App::new(Arc::new(table), Config::default());
    let mailer = Recording::default();
    let response = shared::stream::handle_lambda_event(&app, &mailer, event).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    let response = shared::stream::handle_lambda_payload(&app, &mailer, json)
        .await
        .expect("a well-formed payload");
    assert_eq!(failures(&response), Vec::<String>::new());
    // The response is the shape Lambda reads.
    assert_eq!(
        serde_json::to_value(&response).expect("serializes"),
        json!({"batchItemFailures": []})
    );
    assert!(mailer.sent.lock().expect("the mailer's lock").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_record_fails_alone() {
    let (table, name) = fresh_table().await;
    let written = write_changes(&table).await;
    let json = stream_event_json(&table, &name, written.len()).await;
    let ids = record_ids(&json);
    let app = App::new(Arc::new(table), Config::default());
    let mailer = Recording::default();

    // Binary (a type the table never stores) in the new image of the second record.
    let mut poisoned = json.clone();
    poisoned["Records"][1]["dynamodb"]["NewImage"]["avatar"] = json!({"B": "AAEC"});
    let event: Event = serde_json::from_value(poisoned.clone()).expect("still a DynamoDB event");
    let (events, failed) = shared::stream::stream_events(event.clone());
    assert_eq!(failed, [ids[1].clone()]);
    assert_eq!(events.len(), ids.len() - 1);
    let response = shared::stream::handle_lambda_event(&app, &mailer, event).await;
    assert_eq!(failures(&response), [ids[1].clone()]);
    let response = shared::stream::handle_lambda_payload(&app, &mailer, poisoned)
        .await
        .expect("a well-formed payload");
    assert_eq!(failures(&response), [ids[1].clone()]);

    // A number that is not a 64-bit integer in the old image of the third record, and keys
    // without a sort key in the fourth.
    let mut poisoned = json.clone();
    poisoned["Records"][2]["dynamodb"]["OldImage"]["resent"] = json!({"N": "2.5"});
    if let Some(keys) = poisoned["Records"][3]["dynamodb"]["Keys"].as_object_mut() {
        keys.remove("SK");
    }
    let event: Event = serde_json::from_value(poisoned).expect("still a DynamoDB event");
    let response = shared::stream::handle_lambda_event(&app, &mailer, event).await;
    assert_eq!(failures(&response), [ids[2].clone(), ids[3].clone()]);

    // A record that is not even shaped like a stream record: only the raw-payload path (the
    // one the function serves) can single it out.
    let mut poisoned = json.clone();
    poisoned["Records"][0]["dynamodb"] = json!("not a stream record");
    assert!(serde_json::from_value::<Event>(poisoned.clone()).is_err());
    let response = shared::stream::handle_lambda_payload(&app, &mailer, poisoned)
        .await
        .expect("the other records are fine");
    assert_eq!(failures(&response), [ids[0].clone()]);

    // Without an eventID there is nothing to report a record by: the invocation fails.
    let mut poisoned = json;
    if let Some(record) = poisoned["Records"][0].as_object_mut() {
        record.remove("eventID");
    }
    assert!(
        shared::stream::handle_lambda_payload(&app, &mailer, poisoned)
            .await
            .is_err()
    );
}
