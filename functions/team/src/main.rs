//! The `team` Lambda function: the team routes of the API.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::TEAM).await
}
