//! Creating the one table: keys, `GSI1`, on-demand billing, streams and TTL.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableStatus, TimeToLiveSpecification,
};

use super::{DynamoTable, GSI1};
use crate::store::{GSI1PK, GSI1SK, PK, SK, TTL};

impl DynamoTable {
    /// Creates the single table (keys, `GSI1`, on-demand billing, streams with new and old
    /// images, TTL on `ttl`) and waits until it and its index are active. A table that already
    /// exists is left as it is (its TTL is still switched on).
    pub async fn create_table(client: &Client, name: &str) -> anyhow::Result<()> {
        let string_attr = |attr: &str| {
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |attr: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(attr)
                .key_type(key_type)
                .build()
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key(GSI1PK, KeyType::Hash)?)
            .key_schema(key(GSI1SK, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()?;
        let created = client
            .create_table()
            .table_name(name)
            .attribute_definitions(string_attr(PK)?)
            .attribute_definitions(string_attr(SK)?)
            .attribute_definitions(string_attr(GSI1PK)?)
            .attribute_definitions(string_attr(GSI1SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()?,
            )
            .send()
            .await;
        if let Err(err) = created
            && err.code() != Some("ResourceInUseException")
        {
            anyhow::bail!("creating table {name}: {}", DisplayErrorContext(&err));
        }
        wait_until_active(client, name).await?;
        let ttl = client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL)
                    .build()?,
            )
            .send()
            .await;
        if let Err(err) = ttl {
            let message = DisplayErrorContext(&err).to_string();
            // Switching TTL on twice is refused; a table created earlier already has it.
            if !message.contains("TimeToLive is already enabled") {
                anyhow::bail!("enabling TTL on table {name}: {message}");
            }
        }
        Ok(())
    }
}

async fn wait_until_active(client: &Client, name: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut delay = Duration::from_millis(50);
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|err| {
                anyhow::anyhow!("describing table {name}: {}", DisplayErrorContext(&err))
            })?;
        if let Some(table) = out.table {
            let indexes_active = table
                .global_secondary_indexes()
                .iter()
                .all(|index| index.index_status() == Some(&IndexStatus::Active));
            if table.table_status() == Some(&TableStatus::Active) && indexes_active {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("table {name} did not become active");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
