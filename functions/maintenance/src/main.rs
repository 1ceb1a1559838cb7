//! The `maintenance` Lambda function: the scheduled job (an EventBridge schedule, hourly) that
//! sends token expiry warnings, marks invitations past their time expired and deletes stale
//! unverified accounts (`shared::maintenance`).

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use shared::mail::SesMailer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // With `LoggingConfig: LogFormat: JSON` this subscriber writes JSON lines.
    shared::telemetry::init_lambda();
    let app = shared::app::App::for_lambda().await?;
    let mailer = Arc::new(SesMailer::from_env(shared::aws::lambda_config())?);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let (app, mailer) = (app.clone(), mailer.clone());
        async move {
            let outcome = shared::maintenance::run(&app, mailer.as_ref())
                .await
                .map_err(|refusal| format!("the maintenance run failed: {refusal}"))?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(outcome)?)
        }
    }))
    .await
}
