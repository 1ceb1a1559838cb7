//! The one check both adapters make of a query's cursor: it must name a key of the partition
//! (and index) being queried. Without it a cursor could resume a query from a position in
//! another partition, and the embedded store would read on from there.

use super::{GSI1PK, GSI1SK, Index, PK, Query, SK, StoreError};

/// Refuses (`StoreError::Invalid`) a cursor that is not a key in `query`'s partition and index:
/// the partition attribute must equal the queried partition, and every key attribute the index
/// needs must be a string.
pub fn check(query: &Query) -> Result<(), StoreError> {
    let Some(cursor) = &query.cursor else {
        return Ok(());
    };
    let (partition, needed): (&str, &[&str]) = match query.index {
        Index::Table => (PK, &[PK, SK]),
        Index::Gsi1 => (GSI1PK, &[GSI1PK, GSI1SK, PK, SK]),
    };
    for attr in needed {
        if !cursor.get(*attr).is_some_and(|value| value.is_string()) {
            return Err(StoreError::Invalid(format!("the cursor lacks `{attr}`")));
        }
    }
    if cursor.get(partition).and_then(|value| value.as_str()) != Some(query.partition.as_str()) {
        return Err(StoreError::Invalid(
            "the cursor is not a key of the queried partition".into(),
        ));
    }
    Ok(())
}
