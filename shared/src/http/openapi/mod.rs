//! The OpenAPI 3.1 document of the API, generated from the route table: every route's
//! [`Doc`] (summary, request and response schemas, the errors it can answer) plus what the route
//! itself declares (method, path, path parameters, access, function).
//!
//! Schemas are JSON Schema 2020-12 derived with `schemars` from the very types the handlers
//! deserialize and serialize, so they cannot drift from them; answers a handler builds with
//! `json!` are described by a hand-written schema next to the route. Errors are
//! `application/problem+json` (RFC 9457), see [`crate::http::problem::ApiError`].
//!
//! `cargo run -p tenantry-local -- openapi docs/openapi.json` writes it; the local server serves
//! it at `GET /v1/openapi.json`; `tests/tests/openapi.rs` fails when the committed file is stale.

use axum::http::StatusCode;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value, json};

#[cfg(feature = "docs")]
mod errors;
#[cfg(feature = "docs")]
mod generate;
#[cfg(feature = "docs")]
mod words;

#[cfg(feature = "docs")]
pub use generate::{document, problems, text};

/// Builds a schema, or a `$ref` to one in `components.schemas`, with the given generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T` (a `$ref` for named types): `Doc::new(..).body(schema::<LoginBody>)`.
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What the document says about one route, beyond what the route itself declares.
#[cfg(feature = "docs")]
#[derive(Clone)]
pub struct Doc {
    /// Unique among all routes, camelCase: what client generators name the call.
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub description: Option<&'static str>,
    pub query: Vec<QueryParam>,
    /// The JSON body, and whether it is required.
    pub request: Option<(SchemaFn, bool)>,
    /// The success status, and its JSON body (`None`: no body, as with 204).
    pub success: (StatusCode, Option<SchemaFn>),
    /// Error statuses particular to this route; the ones that follow from its access, path
    /// parameters, body and query are added by the generator.
    pub errors: Vec<StatusCode>,
    /// The media type of the success body (`application/json` unless the route says otherwise).
    pub media: &'static str,
}

/// One query parameter.
#[cfg(feature = "docs")]
#[derive(Clone)]
pub struct QueryParam {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    pub schema: Value,
}

#[cfg(feature = "docs")]
impl Doc {
    /// A route answering 200 with `answer`'s schema.
    pub fn new(operation_id: &'static str, summary: &'static str, answer: SchemaFn) -> Self {
        Doc {
            operation_id,
            summary,
            description: None,
            query: Vec::new(),
            request: None,
            success: (StatusCode::OK, Some(answer)),
            errors: Vec::new(),
            media: "application/json",
        }
    }

    /// Answers with a body of this media type (e.g. `text/csv; charset=utf-8`).
    pub fn media(mut self, media: &'static str) -> Self {
        self.media = media;
        self
    }

    /// Answers `status` (201, 202, …) instead of 200.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.success.0 = status;
        self
    }

    /// Answers 204 without a body.
    pub fn no_content(operation_id: &'static str, summary: &'static str) -> Self {
        Doc {
            success: (StatusCode::NO_CONTENT, None),
            ..Doc::new(operation_id, summary, schema::<()>)
        }
    }

    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = Some(description);
        self
    }

    /// A required JSON body.
    pub fn body(mut self, body: SchemaFn) -> Self {
        self.request = Some((body, true));
        self
    }

    /// A JSON body that may be left out.
    pub fn optional_body(mut self, body: SchemaFn) -> Self {
        self.request = Some((body, false));
        self
    }

    pub fn query(
        mut self,
        name: &'static str,
        description: &'static str,
        required: bool,
        schema: Value,
    ) -> Self {
        self.query.push(QueryParam {
            name,
            description,
            required,
            schema,
        });
        self
    }

    /// Error statuses particular to this route (409, 429, …).
    pub fn errors(mut self, errors: &[StatusCode]) -> Self {
        self.errors.extend_from_slice(errors);
        self
    }
}

/// Without the `docs` feature (the Lambdas) a [`Doc`] holds nothing: the routes are written the
/// same, but nothing refers to their schemas any more, so the linker leaves them out (with
/// schemars' generator), as it does the document's code.
#[cfg(not(feature = "docs"))]
#[derive(Clone)]
pub struct Doc;

#[cfg(not(feature = "docs"))]
impl Doc {
    pub fn new(_operation_id: &'static str, _summary: &'static str, _answer: SchemaFn) -> Self {
        Doc
    }

    pub fn media(self, _media: &'static str) -> Self {
        self
    }

    pub fn status(self, _status: StatusCode) -> Self {
        self
    }

    pub fn no_content(_operation_id: &'static str, _summary: &'static str) -> Self {
        Doc
    }

    pub fn describe(self, _description: &'static str) -> Self {
        self
    }

    pub fn body(self, _body: SchemaFn) -> Self {
        self
    }

    pub fn optional_body(self, _body: SchemaFn) -> Self {
        self
    }

    pub fn query(
        self,
        _name: &'static str,
        _description: &'static str,
        _required: bool,
        _schema: Value,
    ) -> Self {
        self
    }

    pub fn errors(self, _errors: &[StatusCode]) -> Self {
        self
    }
}

/// A `yyyy-mm` month, as a query parameter's schema.
pub fn month_schema() -> Value {
    json!({ "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "examples": ["2026-01"] })
}
