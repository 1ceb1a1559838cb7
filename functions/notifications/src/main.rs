//! The `notifications` Lambda function: the e-mails triggered by table changes, driven by the
//! table's DynamoDB stream (partial batch responses: only failed records are retried).

use std::sync::Arc;

use shared::mail::SesMailer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // With `LoggingConfig: LogFormat: JSON` this subscriber writes JSON lines.
    shared::telemetry::init_lambda();
    // Both clients are built once per process, on the one SDK config (loaded once).
    let app = shared::app::App::for_lambda().await?;
    // E-mail goes through SES as `MAIL_FROM` (required; `SES_ENDPOINT` overrides the endpoint).
    let mailer = Arc::new(SesMailer::from_env(shared::aws::lambda_config())?);
    shared::stream::serve_stream(app, mailer).await
}
