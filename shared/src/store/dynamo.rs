//! The DynamoDB adapter of the table port.
//!
//! One table, keys `PK`/`SK` (strings), one global secondary index `GSI1` on `GSI1PK`/`GSI1SK`.
//! Items are mapped with `serde_dynamo`; conditions and updates become DynamoDB expressions whose
//! names and values always travel as `ExpressionAttributeNames` / `ExpressionAttributeValues`
//! placeholders, never inside the expression text.

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
    TransactWriteItem, Update as DynamoUpdate,
};
use serde_json::Value;

use super::{
    Condition, GSI1PK, GSI1SK, Index, Item, Key, PK, Page, Query, SK, SortKey, StoreError, TTL,
    Table, Update, Write, strip_nulls, validate_transaction,
};

/// The name of the one secondary index.
pub const GSI1: &str = "GSI1";
pub use crate::aws::OPERATION_TIMEOUT;
/// How many times a write refused by a transaction conflict is tried again.
const CONFLICT_RETRIES: u32 = 6;
/// An attribute no item ever carries: removing it is the no-op update expression that still
/// creates a missing item (a transaction's `Update` must have an expression).
const NOOP_ATTR: &str = "__tenantry_noop";

type Attributes = HashMap<String, AttributeValue>;

/// The table port on one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        DynamoTable {
            client,
            table: table_name.into(),
        }
    }

    /// The client and table named by the environment: `TABLE_NAME` (required) and
    /// `DYNAMODB_ENDPOINT` (optional, e.g. DynamoDB Local). Build it once per process.
    pub async fn from_env() -> anyhow::Result<DynamoTable> {
        let table = std::env::var("TABLE_NAME")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .context("TABLE_NAME is not set")?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(DynamoTable::new(DynamoTable::client(&sdk), table))
    }

    /// A DynamoDB client from a loaded SDK config, with an operation timeout
    /// ([`OPERATION_TIMEOUT`] unless the config sets one) and the endpoint overridden by
    /// `DYNAMODB_ENDPOINT` when it is set.
    pub fn client(sdk: &aws_config::SdkConfig) -> Client {
        let mut config =
            aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(crate::aws::timeouts(sdk));
        if let Some(endpoint) = crate::aws::env_value("DYNAMODB_ENDPOINT") {
            config = config.endpoint_url(endpoint);
        }
        Client::from_conf(config.build())
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn inner_client(&self) -> &Client {
        &self.client
    }

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

    fn key_attributes(key: &Key) -> Attributes {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(key.pk.clone())),
            (SK.to_owned(), AttributeValue::S(key.sk.clone())),
        ])
    }

    /// The `TransactWriteItem` of one write (conditions and updates translated).
    fn transact_item(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expr::default();
        let item = match write {
            Write::Put { item, condition } => {
                let attributes = to_attributes(strip_nulls(item.clone()))?;
                let condition = expr.optional_condition(condition.as_ref())?;
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(attributes))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put)
            }
            Write::Update {
                key,
                update,
                condition,
            } => {
                let update = expr.update(update)?;
                let condition = expr.optional_condition(condition.as_ref())?;
                let update = DynamoUpdate::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key_attributes(key)))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().update(update)
            }
            Write::Delete { key, condition } => {
                let condition = expr.optional_condition(condition.as_ref())?;
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key_attributes(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete)
            }
            Write::Check { key, condition } => {
                let condition = match expr.condition(condition)? {
                    Some(condition) => condition,
                    // A condition that always holds (`All` of nothing): DynamoDB needs one.
                    None => {
                        let pk = expr.name(PK);
                        format!("attribute_exists({pk}) OR attribute_not_exists({pk})")
                    }
                };
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key_attributes(key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().condition_check(check)
            }
        };
        Ok(item.build())
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        out.item.map(from_attributes).transpose()
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let item = strip_nulls(item);
        if Key::of(&item).is_none() {
            return Err(StoreError::Invalid(
                "an item without string PK and SK".into(),
            ));
        }
        let attributes = to_attributes(item)?;
        let mut expr = Expr::default();
        let condition = expr.optional_condition(condition.as_ref())?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attributes))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values());
        let mut attempt = 0;
        loop {
            match request.clone().send().await {
                Ok(_) => return Ok(()),
                Err(err) if is_conflict(&err) && attempt < CONFLICT_RETRIES => {
                    backoff(attempt).await;
                    attempt += 1;
                }
                Err(err) => return Err(store_error(err)),
            }
        }
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        let mut expr = Expr::default();
        let update = expr.update(&update)?;
        let condition = expr.optional_condition(condition.as_ref())?;
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(key)))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew);
        let mut attempt = 0;
        loop {
            match request.clone().send().await {
                Ok(out) => {
                    return match out.attributes {
                        Some(attributes) => from_attributes(attributes),
                        None => Err(StoreError::Unavailable(
                            "UpdateItem returned no attributes".into(),
                        )),
                    };
                }
                Err(err) if is_conflict(&err) && attempt < CONFLICT_RETRIES => {
                    backoff(attempt).await;
                    attempt += 1;
                }
                Err(err) => return Err(store_error(err)),
            }
        }
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        let mut expr = Expr::default();
        let condition = expr.optional_condition(condition.as_ref())?;
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllOld);
        let mut attempt = 0;
        loop {
            match request.clone().send().await {
                Ok(out) => return out.attributes.map(from_attributes).transpose(),
                Err(err) if is_conflict(&err) && attempt < CONFLICT_RETRIES => {
                    backoff(attempt).await;
                    attempt += 1;
                }
                Err(err) => return Err(store_error(err)),
            }
        }
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        super::cursor_check::check(&query)?;
        let (pk, sk, index) = match query.index {
            Index::Table => (PK, SK, None),
            Index::Gsi1 => (GSI1PK, GSI1SK, Some(GSI1)),
        };
        let mut expr = Expr::default();
        let pk_name = expr.name(pk);
        let pk_value = expr.value(&Value::String(query.partition))?;
        let mut key_condition = format!("{pk_name} = {pk_value}");
        match &query.sort {
            SortKey::All => {}
            // Every sort key starts with "" (DynamoDB refuses an empty prefix).
            SortKey::Prefix(prefix) if prefix.is_empty() => {}
            SortKey::Prefix(prefix) => {
                let sk_name = expr.name(sk);
                let prefix = expr.value(&Value::String(prefix.clone()))?;
                key_condition.push_str(&format!(" AND begins_with({sk_name}, {prefix})"));
            }
            SortKey::Between(from, to) => {
                // An empty range (DynamoDB refuses one whose bounds are reversed).
                if from > to {
                    return Ok(Page::default());
                }
                let sk_name = expr.name(sk);
                let from = expr.value(&Value::String(from.clone()))?;
                let to = expr.value(&Value::String(to.clone()))?;
                key_condition.push_str(&format!(" AND {sk_name} BETWEEN {from} AND {to}"));
            }
        }
        let limit = match query.limit {
            None => None,
            Some(0) => return Err(StoreError::Invalid("a query limit is at least 1".into())),
            Some(limit) => Some(i32::try_from(limit).unwrap_or(i32::MAX)),
        };
        let start = query.cursor.map(to_attributes).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .set_limit(limit)
            .scan_index_forward(query.forward)
            .set_exclusive_start_key(start)
            // Strongly consistent on the table, like the embedded adapter (an index cannot be).
            .consistent_read(index.is_none())
            .send()
            .await
            .map_err(store_error)?;
        page(out.items, out.last_evaluated_key)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        validate_transaction(&writes)?;
        let items = writes
            .iter()
            .map(|write| self.transact_item(write))
            .collect::<Result<Vec<_>, _>>()?;
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items));
        let mut attempt = 0;
        loop {
            let err = match request.clone().send().await {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            {
                let reasons = cancelled.cancellation_reasons();
                let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
                let failed: Vec<usize> = (0..reasons.len())
                    .filter(|&i| code(i) == "ConditionalCheckFailed")
                    .collect();
                if !failed.is_empty() {
                    return Err(StoreError::TransactionCancelled { failed });
                }
                let conflict = (0..reasons.len()).any(|i| code(i) == "TransactionConflict")
                    && (0..reasons.len())
                        .all(|i| matches!(code(i), "None" | "TransactionConflict"));
                if conflict && attempt < CONFLICT_RETRIES {
                    backoff(attempt).await;
                    attempt += 1;
                    continue;
                }
                if (0..reasons.len()).any(|i| code(i) == "ValidationError") {
                    return Err(StoreError::Invalid(DisplayErrorContext(&err).to_string()));
                }
            } else if is_conflict(&err) && attempt < CONFLICT_RETRIES {
                backoff(attempt).await;
                attempt += 1;
                continue;
            }
            return Err(store_error(err));
        }
    }

    async fn scan(&self, cursor: Option<Item>) -> Result<Page, StoreError> {
        let start = cursor.map(to_attributes).transpose()?;
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        page(out.items, out.last_evaluated_key)
    }
}

/// Builds the placeholders of one request's expressions.
#[derive(Default)]
struct Expr {
    /// placeholder → attribute name
    names: HashMap<String, String>,
    /// attribute name → placeholder (one placeholder per name: DynamoDB refuses unused ones)
    placeholders: HashMap<String, String>,
    /// placeholder → value
    values: Attributes,
}

/// What one update does to one attribute, once every step of an [`Update`] is folded in.
enum Step {
    Set(Value),
    Add(i64),
    Remove,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        if let Some(placeholder) = self.placeholders.get(attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_owned());
        self.placeholders
            .insert(attr.to_owned(), placeholder.clone());
        placeholder
    }

    fn value(&mut self, value: &Value) -> Result<String, StoreError> {
        let value = serde_dynamo::to_attribute_value(value)
            .map_err(|err| StoreError::Invalid(format!("unstorable value: {err}")))?;
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        Ok(placeholder)
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<Attributes> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    fn optional_condition(
        &mut self,
        condition: Option<&Condition>,
    ) -> Result<Option<String>, StoreError> {
        match condition {
            Some(condition) => self.condition(condition),
            None => Ok(None),
        }
    }

    /// The condition expression, or `None` when the condition always holds. Mirrors
    /// [`super::condition_holds`].
    fn condition(&mut self, condition: &Condition) -> Result<Option<String>, StoreError> {
        Ok(self.clause(condition)?.map(|(expression, _)| expression))
    }

    /// A condition expression, and whether its top level is an `OR` (which needs parentheses
    /// under an `AND`; DynamoDB refuses redundant ones).
    fn clause(&mut self, condition: &Condition) -> Result<Option<(String, bool)>, StoreError> {
        Ok(Some(match condition {
            Condition::Exists => (format!("attribute_exists({})", self.name(PK)), false),
            Condition::NotExists => (format!("attribute_not_exists({})", self.name(PK)), false),
            Condition::Equals(attr, value) => {
                let attr = self.name(attr);
                let value = self.value(value)?;
                (format!("{attr} = {value}"), false)
            }
            Condition::NotEquals(attr, value) => {
                let pk = self.name(PK);
                let attr = self.name(attr);
                let value = self.value(value)?;
                let expression = format!(
                    "attribute_exists({pk}) AND (attribute_not_exists({attr}) OR {attr} <> {value})"
                );
                (expression, false)
            }
            Condition::Below(attr, bound) => {
                let attr = self.name(attr);
                let value = self.value(&Value::from(*bound))?;
                // An absent attribute counts as 0, which is below a positive bound.
                if *bound > 0 {
                    let expression = format!("attribute_not_exists({attr}) OR {attr} < {value}");
                    (expression, true)
                } else {
                    (format!("{attr} < {value}"), false)
                }
            }
            Condition::AtLeast(attr, bound) => {
                let attr = self.name(attr);
                let value = self.value(&Value::from(*bound))?;
                // An absent attribute counts as 0, which is at least a bound of 0 or less.
                if *bound <= 0 {
                    let expression = format!("attribute_not_exists({attr}) OR {attr} >= {value}");
                    (expression, true)
                } else {
                    (format!("{attr} >= {value}"), false)
                }
            }
            Condition::All(all) => {
                let mut parts = Vec::with_capacity(all.len());
                for condition in all {
                    if let Some(part) = self.clause(condition)? {
                        parts.push(part);
                    }
                }
                match parts.len() {
                    0 => return Ok(None),
                    1 => parts.remove(0),
                    _ => {
                        let parts: Vec<String> = parts
                            .into_iter()
                            .map(|(part, or)| if or { format!("({part})") } else { part })
                            .collect();
                        (parts.join(" AND "), false)
                    }
                }
            }
        }))
    }

    /// The update expression. Steps on one attribute are folded first, in the order
    /// [`super::apply_update`] applies them (set, add, remove), because DynamoDB refuses an
    /// expression that names one attribute twice.
    fn update(&mut self, update: &Update) -> Result<String, StoreError> {
        let mut steps: Vec<(String, Step)> = Vec::new();
        fn step_of<'a>(steps: &'a mut [(String, Step)], attr: &str) -> Option<&'a mut Step> {
            steps
                .iter_mut()
                .find(|(name, _)| name == attr)
                .map(|(_, step)| step)
        }
        fn record(steps: &mut Vec<(String, Step)>, attr: &str, step: Step) {
            match step_of(steps, attr) {
                Some(existing) => *existing = step,
                None => steps.push((attr.to_owned(), step)),
            }
        }
        for (attr, value) in &update.set {
            guard_key_attr(attr)?;
            let step = if value.is_null() {
                Step::Remove
            } else {
                Step::Set(value.clone())
            };
            record(&mut steps, attr, step);
        }
        for (attr, by) in &update.add {
            guard_key_attr(attr)?;
            let overflow = || StoreError::Invalid(format!("`{attr}` would overflow"));
            let step = match step_of(&mut steps, attr) {
                None => Step::Add(*by),
                Some(Step::Add(before)) => Step::Add(before.checked_add(*by).ok_or_else(overflow)?),
                Some(Step::Remove) => Step::Set(Value::from(*by)),
                Some(Step::Set(value)) => {
                    let now = value
                        .as_i64()
                        .ok_or_else(|| StoreError::Invalid(format!("`{attr}` is not a number")))?;
                    Step::Set(Value::from(now.checked_add(*by).ok_or_else(overflow)?))
                }
            };
            record(&mut steps, attr, step);
        }
        for attr in &update.remove {
            guard_key_attr(attr)?;
            record(&mut steps, attr, Step::Remove);
        }

        let (mut set, mut add, mut remove) = (Vec::new(), Vec::new(), Vec::new());
        for (attr, step) in &steps {
            let name = self.name(attr);
            match step {
                Step::Set(value) => set.push(format!("{name} = {}", self.value(value)?)),
                Step::Add(by) => add.push(format!("{name} {}", self.value(&Value::from(*by))?)),
                Step::Remove => remove.push(name),
            }
        }
        if set.is_empty() && add.is_empty() && remove.is_empty() {
            // Nothing to change: still create a missing item, as `UpdateItem` does.
            remove.push(self.name(NOOP_ATTR));
        }
        let mut clauses = Vec::new();
        if !set.is_empty() {
            clauses.push(format!("SET {}", set.join(", ")));
        }
        if !add.is_empty() {
            clauses.push(format!("ADD {}", add.join(", ")));
        }
        if !remove.is_empty() {
            clauses.push(format!("REMOVE {}", remove.join(", ")));
        }
        Ok(clauses.join(" "))
    }
}

fn guard_key_attr(attr: &str) -> Result<(), StoreError> {
    if attr == PK || attr == SK {
        Err(StoreError::Invalid(format!("`{attr}` is part of the key")))
    } else {
        Ok(())
    }
}

fn to_attributes(item: Item) -> Result<Attributes, StoreError> {
    serde_dynamo::to_item(item)
        .map_err(|err| StoreError::Invalid(format!("unstorable item: {err}")))
}

fn from_attributes(attributes: Attributes) -> Result<Item, StoreError> {
    serde_dynamo::from_item(attributes)
        .map_err(|err| StoreError::Unavailable(format!("unreadable item: {err}")))
}

fn page(items: Option<Vec<Attributes>>, last: Option<Attributes>) -> Result<Page, StoreError> {
    Ok(Page {
        items: items
            .unwrap_or_default()
            .into_iter()
            .map(from_attributes)
            .collect::<Result<_, _>>()?,
        next: last
            .filter(|last| !last.is_empty())
            .map(from_attributes)
            .transpose()?,
    })
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Invalid(format!("malformed request: {err}"))
}

fn is_conflict<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("TransactionConflictException")
}

fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    match err.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("ValidationException") => StoreError::Invalid(DisplayErrorContext(&err).to_string()),
        _ => StoreError::Unavailable(DisplayErrorContext(&err).to_string()),
    }
}

/// Sleeps 10 ms × 2^attempt, jittered by ±50 %.
async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(10);
    let jitter = getrandom::u64().unwrap_or(0) % (base + 1);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
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
