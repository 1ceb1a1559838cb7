//! Reads a table's DynamoDB stream on DynamoDB Local (the real Streams API) and shapes the records
//! as the JSON event Lambda delivers to a stream-triggered function, so that tests can hand what
//! DynamoDB actually recorded to `shared::stream`.
//!
//! Like the other DynamoDB fixtures, these panic with a clear message when `DYNAMODB_ENDPOINT` is
//! not set.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, Shard, ShardIteratorType};
use base64::Engine;
use serde_json::{Map, Value, json};

/// A DynamoDB Streams client for DynamoDB Local at `DYNAMODB_ENDPOINT`, with dummy credentials
/// and region when the environment has none (DynamoDB Local accepts any).
pub async fn streams_client() -> aws_sdk_dynamodbstreams::Client {
    let endpoint = match std::env::var("DYNAMODB_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "DYNAMODB_ENDPOINT is not set: the DynamoDB Streams tests need DynamoDB Local. \
             Run them with `scripts/test.sh`, which starts it and sets DYNAMODB_ENDPOINT."
        ),
    };
    let sdk = crate::fixtures::local_sdk_config().await;
    let config = aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// Every record of `table_name`'s latest stream, from the trim horizon, as one Lambda event:
/// `{"Records": [{"eventID", "eventName", "eventVersion", "eventSource": "aws:dynamodb",
/// "awsRegion", "dynamodb": {"ApproximateCreationDateTime", "Keys", "NewImage", "OldImage",
/// "SequenceNumber", "SizeBytes", "StreamViewType"}, "eventSourceARN"}]}`, attribute values in
/// DynamoDB JSON (`{"S": "..."}`, `{"N": "1"}`, binary in base64). Parent shards come before
/// their children; each shard is read until it has nothing more to give right now.
///
/// Records show up on the stream shortly after the write: poll (with a deadline) until the
/// records expected are there.
pub async fn read_stream_as_lambda_event(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
) -> Value {
    let table = client
        .describe_table()
        .table_name(table_name)
        .send()
        .await
        .unwrap_or_else(|err| panic!("describing table {table_name}: {err:?}"))
        .table
        .unwrap_or_else(|| panic!("no description of table {table_name}"));
    let stream_arn = table
        .latest_stream_arn()
        .unwrap_or_else(|| panic!("table {table_name} has no stream"))
        .to_owned();
    let streams = streams_client().await;

    let mut shards: Vec<Shard> = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let description = streams
            .describe_stream()
            .stream_arn(&stream_arn)
            .set_exclusive_start_shard_id(start.take())
            .send()
            .await
            .unwrap_or_else(|err| panic!("describing stream {stream_arn}: {err:?}"))
            .stream_description
            .unwrap_or_else(|| panic!("no description of stream {stream_arn}"));
        shards.extend(description.shards().iter().cloned());
        match description.last_evaluated_shard_id {
            Some(last) => start = Some(last),
            None => break,
        }
    }

    let mut records = Vec::new();
    for shard in parents_first(shards) {
        let Some(shard_id) = shard.shard_id() else {
            continue;
        };
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap_or_else(|err| panic!("shard iterator of {shard_id}: {err:?}"))
            .shard_iterator;
        while let Some(current) = iterator.take() {
            let page = streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .unwrap_or_else(|err| panic!("reading shard {shard_id}: {err:?}"));
            let got = page.records();
            if got.is_empty() {
                break;
            }
            records.extend(got.iter().map(|record| lambda_record(record, &stream_arn)));
            iterator = page.next_shard_iterator;
        }
    }
    json!({ "Records": records })
}

/// Shards ordered so that a parent comes before its children.
fn parents_first(mut shards: Vec<Shard>) -> Vec<Shard> {
    let mut ordered: Vec<Shard> = Vec::with_capacity(shards.len());
    while !shards.is_empty() {
        let pending: Vec<String> = shards
            .iter()
            .filter_map(|s| s.shard_id().map(str::to_owned))
            .collect();
        let (ready, waiting): (Vec<Shard>, Vec<Shard>) = shards.into_iter().partition(|s| {
            s.parent_shard_id()
                .is_none_or(|parent| !pending.iter().any(|id| id == parent))
        });
        if ready.is_empty() {
            // A cycle cannot happen; keep the rest as listed rather than loop.
            ordered.extend(waiting);
            break;
        }
        ordered.extend(ready);
        shards = waiting;
    }
    ordered
}

/// One SDK record in the shape of a record of Lambda's DynamoDB event.
fn lambda_record(record: &Record, stream_arn: &str) -> Value {
    let mut change = Map::new();
    if let Some(stream) = record.dynamodb() {
        if let Some(at) = stream.approximate_creation_date_time() {
            change.insert(
                "ApproximateCreationDateTime".into(),
                json!(at.secs() as f64),
            );
        }
        for (name, image) in [
            ("Keys", stream.keys()),
            ("NewImage", stream.new_image()),
            ("OldImage", stream.old_image()),
        ] {
            if let Some(image) = image {
                change.insert(name.into(), attributes_json(image));
            }
        }
        if let Some(sequence) = stream.sequence_number() {
            change.insert("SequenceNumber".into(), json!(sequence));
        }
        change.insert("SizeBytes".into(), json!(stream.size_bytes().unwrap_or(0)));
        if let Some(view) = stream.stream_view_type() {
            change.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|name| name.as_str()),
        "eventVersion": record.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region(),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    })
}

/// An attribute map in DynamoDB JSON.
pub fn attributes_json(attributes: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|(name, value)| (name.clone(), attribute_json(value)))
            .collect(),
    )
}

/// One attribute value in DynamoDB JSON (`{"S": "..."}`, `{"N": "..."}`, ...).
pub fn attribute_json(value: &AttributeValue) -> Value {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        AttributeValue::Bs(bs) => {
            json!({ "BS": bs.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::L(list) => {
            json!({ "L": list.iter().map(attribute_json).collect::<Vec<_>>() })
        }
        AttributeValue::M(map) => json!({ "M": attributes_json(map) }),
        other => panic!("an attribute value this helper does not know: {other:?}"),
    }
}
