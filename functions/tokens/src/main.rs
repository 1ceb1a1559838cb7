//! The `tokens` Lambda function: the tokens routes of the API.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::TOKENS).await
}
