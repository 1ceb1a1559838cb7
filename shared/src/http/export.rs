//! The `user-export` function: `GET /v1/profiles/{pid}/run/users/export`, the profile's run
//! users as CSV, streamed. The rows of each chunk leave while the next is read; a bounded
//! channel between the reading task and the response holds at most a few chunks, so memory
//! stays flat, and a client that goes away closes it, which stops the reading.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body::Frame;
use tokio::sync::mpsc;

use super::problem::ApiResult;
use super::run_users::list_query;
use super::{Doc, Route};
use crate::app::App;
use crate::domain::access::{Access, Area, ProfileCaller};
use crate::domain::run_users::export;
use crate::refusal::Refusal;

/// Chunks waiting between the reading task and the client, at most.
const CHUNKS_IN_FLIGHT: usize = 4;

pub fn routes() -> Vec<Route> {
    vec![Route::of(super::USER_EXPORT.name)(
        Method::GET,
        "/v1/profiles/{pid}/run/users/export",
        Access::member(Area::App).metered(),
        get(export_users),
        Doc::new(
            "exportRunUsers",
            "The profile's run users as CSV, streamed",
            |_| schemars::json_schema!({ "type": "string" }),
        )
        .media("text/csv")
        .describe(
            "Takes the list's filters and `order`; `after=<uid>` resumes after that user in the \
             same order. Columns: id, email, name, active, created_at, last_login, then one per \
             tag key used in the profile, sorted. In AWS it is served through the `user-export` \
             function's own Function URL (response streaming), with the same bearer token.",
        )
        .query("q", "A case-insensitive prefix of the name or the e-mail", false, serde_json::json!({"type": "string", "maxLength": 100}))
        .query("active", "Only active (true) or deactivated (false) users", false, serde_json::json!({"type": "boolean"}))
        .query("order", "The order of the rows", false, serde_json::json!({"type": "string", "enum": ["created_at", "-created_at", "name", "email"]}))
        .query("after", "Resume after this run user, in the same order", false, serde_json::json!({"type": "string", "format": "uuid"})),
    )]
}

/// The response body: the chunks the reading task sends.
struct Chunks(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }
}

async fn export_users(
    State(app): State<App>,
    Extension(caller): Extension<ProfileCaller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let mut after = None;
    let mut rest = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "after" => {
                after = Some(
                    uuid::Uuid::parse_str(&value)
                        .map_err(|_| Refusal::invalid("after", "a run user id (a UUID)"))?,
                )
            }
            "limit" | "cursor" => {
                return Err(Refusal::invalid(
                    name.as_str(),
                    "the export has no pages: it streams every row (resume with `after`)",
                )
                .into());
            }
            _ => rest.push((name, value)),
        }
    }
    let query = list_query(rest)?;
    let mut export = export::open(&app, caller.pid, &query, after).await?;
    let header = export.header()?;
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let pid = caller.pid;
    let reading = app.clone();
    tokio::spawn(async move {
        if sender.send(Ok(Bytes::from(header))).await.is_err() {
            return;
        }
        loop {
            let chunk = match export.next_rows(&reading).await {
                Ok(Some(rows)) => Ok(Bytes::from(rows)),
                Ok(None) => return,
                Err(refusal) => {
                    tracing::error!(%pid, error = %refusal, "the export stopped");
                    Err(std::io::Error::other("the export stopped"))
                }
            };
            let failed = chunk.is_err();
            // A closed channel: the client went away; stop reading.
            if sender.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    let disposition = format!("attachment; filename=\"{}\"", export::file_name(&app, pid));
    let mut response = Body::new(Chunks(receiver)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
