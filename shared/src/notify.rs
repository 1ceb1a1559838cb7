//! Notifications: turns table changes (DynamoDB Streams records in AWS, the embedded store's
//! change feed locally) into e-mails. The same handler runs in both places.

use crate::app::App;
use crate::mail::Mailer;
use crate::store::Change;

/// One change record with its stream-unique id (the DynamoDB Streams `eventID`, or the embedded
/// feed's sequence number).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    pub id: String,
    pub change: Change,
}

/// Handles a batch, record by record; returns the ids of the records that failed (to be
/// reported as `batchItemFailures`, so only they are retried). Records already handled (a
/// replay) send nothing again.
pub async fn handle_batch(app: &App, mailer: &dyn Mailer, events: Vec<StreamEvent>) -> Vec<String> {
    let mut failed = Vec::new();
    for event in events {
        if let Err(error) = handle(app, mailer, &event).await {
            tracing::warn!(event = %event.id, %error, "a change record failed");
            failed.push(event.id);
        }
    }
    failed
}

/// Handles one record.
pub async fn handle(_app: &App, _mailer: &dyn Mailer, _event: &StreamEvent) -> anyhow::Result<()> {
    // The rules (invitation e-mails, acceptance, usage alerts) are filled in by the team work.
    Ok(())
}
