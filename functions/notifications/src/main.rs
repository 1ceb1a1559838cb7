//! The `notifications` Lambda function: the e-mails triggered by table changes, driven by the
//! table's DynamoDB stream (partial batch responses: only failed records are retried).

use std::path::Path;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // With `LoggingConfig: LogFormat: JSON` this subscriber writes JSON lines.
    lambda_runtime::tracing::init_default_subscriber();
    let app = shared::app::App::for_lambda().await?;
    // Built once per process; in AWS `MAIL_FROM` selects SES (the outbox directory is unused).
    let mailer = shared::mail::mailer_from_env(Path::new("/tmp")).await?;
    shared::stream::serve_stream(app, mailer).await
}
