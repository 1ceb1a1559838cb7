//! What every HTTP function's `main` does: build the context once, then serve the function's
//! router through `lambda_http`.

use crate::app::App;
use crate::http;

/// Serves the routes of `function` (its name in the route table) inside Lambda.
pub async fn serve(function: &'static str) -> Result<(), lambda_http::Error> {
    // With `LoggingConfig: LogFormat: JSON` this subscriber writes JSON lines.
    lambda_http::tracing::init_default_subscriber();
    let app = App::for_lambda().await?;
    lambda_http::run(http::router(app, Some(function))).await
}
