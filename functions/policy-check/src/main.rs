//! The `policy-check` Lambda function: the policy check, by the team (for a run user or a tag
//! subject) and by a run user about itself. Its policy sets stay compiled in memory between
//! requests, checked against the profile's policy-set version on every check.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::POLICY_CHECK).await
}
