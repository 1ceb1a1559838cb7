//! The `policies` Lambda function: a profile's resource catalogue and access policies, and what
//! applies to one run user.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::POLICIES).await
}
