//! The `user-export` Lambda function: the streamed CSV export of a profile's run users, behind
//! its own Function URL in `RESPONSE_STREAM` mode.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_streaming(&shared::http::USER_EXPORT).await
}
