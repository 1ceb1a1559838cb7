//! The `run-users` Lambda function: run users' self-service and reset requests, and their
//! management by the profile's team (the routes that hash a password are `passwords`').

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::RUN_USERS).await
}
