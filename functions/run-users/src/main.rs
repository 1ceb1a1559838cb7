//! The `run-users` Lambda function: run users' sign-up, login, self-service and password reset,
//! and their management by the profile's team.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::RUN_USERS).await
}
