//! Items to and from DynamoDB attribute maps, pages, and SDK errors to [`StoreError`].

use std::collections::HashMap;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::store::{Item, Key, PK, Page, SK, StoreError};

pub(super) type Attributes = HashMap<String, AttributeValue>;

pub(super) fn key_attributes(key: &Key) -> Attributes {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

pub(super) fn to_attributes(item: Item) -> Result<Attributes, StoreError> {
    serde_dynamo::to_item(item)
        .map_err(|err| StoreError::Invalid(format!("unstorable item: {err}")))
}

pub(super) fn from_attributes(attributes: Attributes) -> Result<Item, StoreError> {
    serde_dynamo::from_item(attributes)
        .map_err(|err| StoreError::Unavailable(format!("unreadable item: {err}")))
}

pub(super) fn page(
    items: Option<Vec<Attributes>>,
    last: Option<Attributes>,
) -> Result<Page, StoreError> {
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

pub(super) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Invalid(format!("malformed request: {err}"))
}

pub(super) fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
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
