//! The DynamoDB Streams adapter of the notification handler: turns the batch Lambda delivers
//! (`aws_lambda_events`' DynamoDB event) into [`StreamEvent`]s, hands them to
//! [`notify::handle_batch`], and answers with the partial batch response
//! (`ReportBatchItemFailures`), so that only failed records are retried.
//!
//! A record that cannot be read (malformed, keys without a string `PK` and `SK`, an attribute
//! of a type the table never stores such as binary, a number that is not a 64-bit integer) does
//! not fail its batch: it is reported as failed, by its `eventID`, while the others are handled.
//! Like every failed record it is retried, then sent to the mapping's on-failure destination.

use std::collections::HashSet;
use std::sync::Arc;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::app::App;
use crate::mail::Mailer;
use crate::notify::{self, StreamEvent};
use crate::store::{Change, Item, Key};

/// Why one stream record could not be turned into a [`StreamEvent`]. Messages name attributes,
/// never their values (images hold e-mail addresses and password hashes).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a DynamoDB stream record: {0}")]
    Malformed(String),
    #[error("the record's keys have no string PK and SK")]
    MissingKey,
    #[error("the {image} image cannot be read: {reason}")]
    Unreadable { image: &'static str, reason: String },
    #[error("attribute {attr} of the {image} image is a number that is not a 64-bit integer")]
    NotAnInteger { image: &'static str, attr: String },
}

/// Converts one record: the key from `Keys`, the change's old and new images from `OldImage`
/// and `NewImage` (an absent or empty image is `None`: no old image on INSERT, no new one on
/// REMOVE).
pub fn stream_event(record: EventRecord) -> Result<StreamEvent, RecordError> {
    let keys = image("keys", record.change.keys)?.ok_or(RecordError::MissingKey)?;
    let key = Key::of(&keys).ok_or(RecordError::MissingKey)?;
    // DynamoDB's own TTL deletions carry the service as their user identity.
    let expired = record
        .user_identity
        .as_ref()
        .is_some_and(|who| who.type_ == "Service" && who.principal_id == "dynamodb.amazonaws.com");
    Ok(StreamEvent {
        id: record.event_id,
        change: Change {
            key,
            old: image("old", record.change.old_image)?,
            new: image("new", record.change.new_image)?,
            expired,
        },
    })
}

/// Converts a whole batch: the events that could be read, in order, and the ids of the records
/// that could not.
pub fn stream_events(event: Event) -> (Vec<StreamEvent>, Vec<String>) {
    let mut events = Vec::with_capacity(event.records.len());
    let mut failed = Vec::new();
    for record in event.records {
        let id = record.event_id.clone();
        match stream_event(record) {
            Ok(converted) => events.push(converted),
            Err(error) => {
                tracing::warn!(event = %id, %error, "a stream record could not be read");
                failed.push(id);
            }
        }
    }
    (events, failed)
}

/// Handles one Lambda batch: every readable record goes to [`notify::handle_batch`]; the
/// response lists, in batch order, the records that could not be read or whose handling failed.
pub async fn handle_lambda_event(
    app: &App,
    mailer: &dyn Mailer,
    event: Event,
) -> DynamoDbEventResponse {
    let order: Vec<String> = event.records.iter().map(|r| r.event_id.clone()).collect();
    let (events, unreadable) = stream_events(event);
    finish(app, mailer, order, events, unreadable).await
}

/// Like [`handle_lambda_event`], from the raw payload: each record is deserialized on its own, so
/// a record that does not even have the shape of a stream record fails alone (reported by its
/// `eventID`). Only a payload without a `Records` list, or a record without an `eventID`, fails
/// the whole invocation (there is nothing to report it by); Lambda then retries the batch,
/// bisecting it, until the culprit is isolated and sent to the on-failure destination.
pub async fn handle_lambda_payload(
    app: &App,
    mailer: &dyn Mailer,
    payload: Value,
) -> Result<DynamoDbEventResponse, RecordError> {
    let records = match payload {
        Value::Object(mut payload) => match payload.remove("Records") {
            Some(Value::Array(records)) => records,
            _ => return Err(RecordError::Malformed("no Records list".to_owned())),
        },
        _ => return Err(RecordError::Malformed("not a JSON object".to_owned())),
    };
    let mut order = Vec::with_capacity(records.len());
    let mut events = Vec::with_capacity(records.len());
    let mut unreadable = Vec::new();
    for record in records {
        let Some(id) = record
            .get("eventID")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(RecordError::Malformed(
                "a record without an eventID".to_owned(),
            ));
        };
        order.push(id.clone());
        let converted = serde_json::from_value::<EventRecord>(record)
            .map_err(|error| RecordError::Malformed(error.to_string()))
            .and_then(stream_event);
        match converted {
            Ok(event) => events.push(event),
            Err(error) => {
                tracing::warn!(event = %id, %error, "a stream record could not be read");
                unreadable.push(id);
            }
        }
    }
    Ok(finish(app, mailer, order, events, unreadable).await)
}

/// Serves the stream handler inside Lambda, with the context and mailer built once by `main`.
pub async fn serve_stream(app: App, mailer: Arc<dyn Mailer>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        let mailer = mailer.clone();
        async move {
            handle_lambda_payload(&app, mailer.as_ref(), event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

async fn finish(
    app: &App,
    mailer: &dyn Mailer,
    order: Vec<String>,
    events: Vec<StreamEvent>,
    unreadable: Vec<String>,
) -> DynamoDbEventResponse {
    let mut failed: HashSet<String> = unreadable.into_iter().collect();
    if !events.is_empty() {
        failed.extend(notify::handle_batch(app, mailer, events).await);
    }
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = order
        .into_iter()
        .filter(|id| failed.remove(id))
        .map(|id| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(id);
            failure
        })
        .collect();
    response
}

/// One image as an [`Item`]; `None` when absent or empty.
fn image(name: &'static str, attributes: serde_dynamo::Item) -> Result<Option<Item>, RecordError> {
    if attributes.is_empty() {
        return Ok(None);
    }
    let item: Item =
        serde_dynamo::from_item(attributes).map_err(|error| RecordError::Unreadable {
            image: name,
            reason: error.to_string(),
        })?;
    for (attr, value) in &item {
        if !integers_only(value) {
            return Err(RecordError::NotAnInteger {
                image: name,
                attr: attr.clone(),
            });
        }
    }
    Ok(Some(item))
}

/// Whether every number in `value` is an `i64`, as the table port stores them.
fn integers_only(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_i64(),
        Value::Array(values) => values.iter().all(integers_only),
        Value::Object(map) => map.values().all(integers_only),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}
