//! The DynamoDB adapter of the table port.
//!
//! One table, keys `PK`/`SK` (strings), one global secondary index `GSI1` on `GSI1PK`/`GSI1SK`.
//! Items are mapped with `serde_dynamo`; conditions and updates become DynamoDB expressions whose
//! names and values always travel as `ExpressionAttributeNames` / `ExpressionAttributeValues`
//! placeholders, never inside the expression text (`expr.rs`). Every write that another
//! transaction can be in the way of goes through the one retry loop (`retry.rs`).

mod convert;
mod expr;
mod retry;
mod schema;
mod transact;

use anyhow::Context as _;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use serde_json::Value;

use self::convert::{from_attributes, key_attributes, page, store_error, to_attributes};
use self::expr::Expr;
use self::retry::{conflict_or_final, with_conflict_retries};
use super::{
    Condition, GSI1PK, GSI1SK, Index, Item, Key, PK, Page, Query, SK, SortKey, StoreError, Table,
    Update, Write, strip_nulls, validate_transaction,
};

/// The name of the one secondary index.
pub const GSI1: &str = "GSI1";
pub use crate::aws::OPERATION_TIMEOUT;

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
        Ok(DynamoTable::new(
            DynamoTable::client(crate::aws::config().await),
            table,
        ))
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

    /// Opens the client's connection to DynamoDB (DNS, TCP, TLS, the SDK's first signing) with
    /// a GetItem of a key no item has, so that the first request finds it open: what a Lambda
    /// does during its init (`App::for_lambda`, issue 14). Errors are only logged: the first
    /// real call will meet them again and answer for them.
    pub async fn connect(&self) {
        let key = Key::new("#connect", "#connect");
        if let Err(error) = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&key)))
            .projection_expression("PK")
            .send()
            .await
        {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error), "opening the DynamoDB connection during init failed");
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn inner_client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
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
        with_conflict_retries(|| request.clone().send(), conflict_or_final).await?;
        Ok(())
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
            .set_key(Some(key_attributes(key)))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew);
        let out = with_conflict_retries(|| request.clone().send(), conflict_or_final).await?;
        match out.attributes {
            Some(attributes) => from_attributes(attributes),
            None => Err(StoreError::Unavailable(
                "UpdateItem returned no attributes".into(),
            )),
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
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllOld);
        let out = with_conflict_retries(|| request.clone().send(), conflict_or_final).await?;
        out.attributes.map(from_attributes).transpose()
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
                match prefix_upper_bound(prefix) {
                    Some(upper) => {
                        let from = expr.value(&Value::String(prefix.clone()))?;
                        let to = expr.value(&Value::String(upper))?;
                        key_condition.push_str(&format!(" AND {sk_name} BETWEEN {from} AND {to}"));
                    }
                    None => {
                        let prefix = expr.value(&Value::String(prefix.clone()))?;
                        key_condition.push_str(&format!(" AND begins_with({sk_name}, {prefix})"));
                    }
                }
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
        with_conflict_retries(|| request.clone().send(), transact::classify).await?;
        Ok(())
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

/// The longest sort key DynamoDB stores, in UTF-8 bytes.
const MAX_SORT_KEY_BYTES: usize = 1024;

/// The highest sort key that starts with `prefix`: the prefix followed by the highest code point
/// (U+10FFFF, the highest UTF-8 bytes) as often as a sort key has room for. Every sort key that
/// starts with `prefix` is at most that (it is no longer, and each of its characters is at most
/// U+10FFFF), and every key from `prefix` to it starts with `prefix`, so
/// `BETWEEN prefix AND bound` selects exactly what `begins_with(prefix)` does.
///
/// Why not `begins_with`: on DynamoDB both are one key range, but DynamoDB Local (what the local
/// server and the tests run on) reads a `begins_with` query's whole partition, and a `BETWEEN`
/// query only its range: the first page of a run-user tag filter took 25 times longer at 100,000
/// users than at 1,000 (BENCHMARKS.md, "First page of a run-user filter"). `None` when the prefix
/// leaves no room (no stored key can be longer than it, so `begins_with` costs nothing more).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let room = MAX_SORT_KEY_BYTES.checked_sub(prefix.len())? / char::MAX.len_utf8();
    if room == 0 {
        return None;
    }
    let mut bound = String::with_capacity(prefix.len() + room * char::MAX.len_utf8());
    bound.push_str(prefix);
    bound.extend(std::iter::repeat_n(char::MAX, room));
    Some(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_bound_fills_a_sort_key() {
        let bound = prefix_upper_bound("RUNTAG#plan#").expect("room");
        assert!(bound.starts_with("RUNTAG#plan#"));
        assert!(bound.len() <= MAX_SORT_KEY_BYTES);
        assert!(bound.len() > MAX_SORT_KEY_BYTES - char::MAX.len_utf8());
        let longest = format!("RUNTAG#plan#{}", "\u{10FFFF}".repeat(253));
        assert!(longest.len() <= MAX_SORT_KEY_BYTES && longest.as_str() <= bound.as_str());
        assert!("RUNTAG#plan$" > bound.as_str());
        assert_eq!(prefix_upper_bound(&"x".repeat(1022)), None);
        assert_eq!(prefix_upper_bound(&"x".repeat(2000)), None);
    }
}
