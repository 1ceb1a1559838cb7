//! The cold-start yardstick (`tests/src/bin/cold_start.rs`): the smallest `lambda_http` + axum
//! function, one route, no SDK, no table. Every function's init and first answer are compared
//! with this one's, built with the same release profile in the same run.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let router = Router::new().route("/{*path}", get(|| async { "hello" }));
    lambda_http::run(router).await
}
