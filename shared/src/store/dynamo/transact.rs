//! Transactions: each write translated into a `TransactWriteItem`, and a refusal read back into
//! what the port reports (which conditions failed, or a conflict worth retrying).

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, TransactWriteItem, Update as DynamoUpdate,
};

use super::DynamoTable;
use super::convert::{build_error, key_attributes, store_error, to_attributes};
use super::expr::Expr;
use super::retry::{Failure, is_conflict};
use crate::store::{PK, StoreError, Write, strip_nulls};

impl DynamoTable {
    /// The `TransactWriteItem` of one write (conditions and updates translated).
    pub(super) fn transact_item(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
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
                    .set_key(Some(key_attributes(key)))
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
                    .set_key(Some(key_attributes(key)))
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
                    .set_key(Some(key_attributes(key)))
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

/// What a refused `TransactWriteItems` means: failed conditions (with their indexes), a conflict
/// with another transaction (worth retrying), an invalid request, or a failure of the store.
pub(super) fn classify<R: std::fmt::Debug>(err: SdkError<TransactWriteItemsError, R>) -> Failure {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    {
        let reasons = cancelled.cancellation_reasons();
        let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
        let failed: Vec<usize> = (0..reasons.len())
            .filter(|&i| code(i) == "ConditionalCheckFailed")
            .collect();
        if !failed.is_empty() {
            return Failure::Final(StoreError::TransactionCancelled { failed });
        }
        let conflict = (0..reasons.len()).any(|i| code(i) == "TransactionConflict")
            && (0..reasons.len()).all(|i| matches!(code(i), "None" | "TransactionConflict"));
        if conflict {
            return Failure::Conflict(store_error(err));
        }
        if (0..reasons.len()).any(|i| code(i) == "ValidationError") {
            return Failure::Final(StoreError::Invalid(DisplayErrorContext(&err).to_string()));
        }
    } else if is_conflict(&err) {
        return Failure::Conflict(store_error(err));
    }
    Failure::Final(store_error(err))
}
