//! What every HTTP function's `main` does: build the context once, then serve the function's
//! router through `lambda_http`.

use crate::app::App;
use crate::http;

/// Serves the routes of `function` (`http::ACCOUNTS`, …) inside Lambda.
pub async fn serve(function: &http::Function) -> Result<(), lambda_http::Error> {
    // With `LoggingConfig: LogFormat: JSON` this subscriber writes JSON lines.
    crate::telemetry::init_lambda();
    let app = App::for_lambda().await?;
    lambda_http::run(http::function_router(app, function)).await
}

/// The same for a function whose answers stream (its Function URL runs in `RESPONSE_STREAM`
/// mode): each chunk of the body is sent to the client as it is produced.
pub async fn serve_streaming(function: &http::Function) -> Result<(), lambda_http::Error> {
    crate::telemetry::init_lambda();
    let app = App::for_lambda().await?;
    lambda_http::run_with_streaming_response(http::function_router(app, function)).await
}
