//! The `passwords` Lambda function: every route that hashes or verifies a password.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::PASSWORDS).await
}
