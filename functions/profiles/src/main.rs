//! The `profiles` Lambda function: the profiles routes of the API.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::PROFILES).await
}
