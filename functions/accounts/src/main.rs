//! The `accounts` Lambda function: the accounts routes of the API.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::ACCOUNTS).await
}
