//! The `accounts` Lambda function: the accounts routes of the API.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::ACCOUNTS).await
}
