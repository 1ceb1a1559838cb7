//! The document itself (feature `docs`: the local server and the tests; the Lambdas leave it
//! out, and with it every schema the routes' [`Doc`](super::Doc)s name).

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use schemars::SchemaGenerator;
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Map, Value, json};

use super::super::{LOCAL, Route, method_name};
use super::errors::{error_name, error_statuses, problem_response, problem_schema};
use super::words::{access_text, path_param_text, path_params};
use crate::domain::access::Access;

/// The document as pretty JSON, ending with a newline: what `docs/openapi.json` holds.
pub fn text() -> String {
    let mut text = serde_json::to_string_pretty(&sorted(document())).unwrap_or_default();
    text.push('\n');
    text
}

/// `value` with the keys of every object in sorted order, whatever order serde_json keeps:
/// a crate elsewhere in the build (a dev-dependency of the tests) may turn on serde_json's
/// `preserve_order`, and the committed document must read the same either way.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, sorted(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The OpenAPI 3.1 document of every route of [`super::super::routes`].
pub fn document() -> Value {
    build(&super::super::routes()).0
}

/// What is wrong with the route docs (duplicate operation ids, a type named twice with two
/// different schemas, …); empty when the document is sound. The tests check it.
pub fn problems() -> Vec<String> {
    build(&super::super::routes()).1
}

fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
            settings.contract = contract;
        })
        .into_generator()
}

fn build(routes: &[Route]) -> (Value, Vec<String>) {
    let mut problems = Vec::new();
    // Requests are described as they are read, answers as they are written (an `Option` field
    // may be left out of a request but is always present, maybe null, in an answer).
    let mut requests = generator(Contract::Deserialize);
    let mut answers = generator(Contract::Serialize);
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    let mut operation_ids: BTreeMap<&str, String> = BTreeMap::new();
    let mut used_errors: BTreeSet<StatusCode> = BTreeSet::new();
    for route in routes {
        let method = method_name(&route.method);
        let doc = &route.doc;
        let at = format!("{method} {}", route.path);
        if let Some(other) = operation_ids.insert(doc.operation_id, at.clone()) {
            problems.push(format!(
                "{at}: operationId `{}` is also used by {other}",
                doc.operation_id
            ));
        }
        if doc.summary.trim().is_empty() {
            problems.push(format!("{at}: no summary"));
        }
        let errors = error_statuses(route);
        for status in &errors {
            used_errors.insert(*status);
            if error_name(*status).is_none() {
                problems.push(format!("{at}: no problem response is defined for {status}"));
            }
        }
        let operation = operation(route, errors, &mut requests, &mut answers);
        let previous = paths
            .entry(route.path)
            .or_default()
            .insert(method.to_ascii_lowercase(), operation);
        if previous.is_some() {
            problems.push(format!("{at}: declared twice"));
        }
    }

    let mut schemas = requests.take_definitions(true);
    for (name, schema) in answers.take_definitions(true) {
        match schemas.get(&name) {
            Some(existing) if *existing != schema => problems.push(format!(
                "schema `{name}` differs as read and as written: give the answer type its own \
                 name (#[schemars(rename = \"…\")])"
            )),
            _ => {
                schemas.insert(name, schema);
            }
        }
    }
    schemas.insert("Problem".into(), problem_schema());
    let schemas: BTreeMap<String, Value> = schemas.into_iter().collect();

    let responses: Map<String, Value> = used_errors
        .iter()
        .filter_map(|status| {
            let (name, description) = error_name(*status)?;
            Some((name.to_owned(), problem_response(*status, description)))
        })
        .collect();

    let document = json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Tenantry API",
            "version": "v1",
            "summary": "Multi-tenant accounts: accounts own profiles, each an isolated tenant with \
                        its own limits, usage, team and API tokens.",
            "description": "Every body is JSON. Errors are `application/problem+json` (RFC 9457) \
                            with a stable `type` slug. Authentication is `Authorization: Bearer \
                            <token>`: a login session (from `POST /v1/login`) or a profile's API \
                            token. A caller who is not on the profile named in the path gets 404.",
            "license": { "name": "MIT", "identifier": "MIT" },
        },
        "servers": [
            {
                "url": "http://127.0.0.1:{port}",
                "description": "The local server (`cargo run -p tenantry-local`)",
                "variables": { "port": { "default": "3000" } },
            },
            {
                "url": "https://{api_id}.execute-api.{region}.amazonaws.com",
                "description": "The deployed HTTP API (see the stack's outputs)",
                "variables": {
                    "api_id": { "default": "api-id" },
                    "region": { "default": "us-east-1" },
                },
            },
        ],
        "tags": tags(routes),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "session": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A login session token, from `POST /v1/login`.",
                },
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token of the profile in the path, from \
                                    `POST /v1/profiles/{pid}/tokens`, capped by its permission.",
                },
                "runUserSession": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A run user's session token, from \
                                    `POST /v1/profiles/{pid}/run/login`.",
                },
            },
        },
    });
    (document, problems)
}

/// One tag per function, in the order the routes come.
fn tags(routes: &[Route]) -> Vec<Value> {
    let mut tags: Vec<Value> = Vec::new();
    for route in routes {
        if tags.iter().any(|tag| tag["name"] == route.function) {
            continue;
        }
        let description = if route.function == LOCAL {
            "Served by the local server only (no Lambda function)".to_owned()
        } else {
            format!("Served by the `{}` function", route.function)
        };
        tags.push(json!({ "name": route.function, "description": description }));
    }
    tags
}

fn operation(
    route: &Route,
    errors: Vec<StatusCode>,
    requests: &mut SchemaGenerator,
    answers: &mut SchemaGenerator,
) -> Value {
    let doc = &route.doc;
    let mut operation = Map::new();
    operation.insert("operationId".into(), doc.operation_id.into());
    operation.insert("summary".into(), doc.summary.into());
    let mut description = access_text(route.access);
    if let Some(more) = doc.description {
        description = format!("{more}\n\n{description}");
    }
    operation.insert("description".into(), description.into());
    operation.insert("tags".into(), json!([route.function]));

    let mut parameters: Vec<Value> = path_params(route.path)
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": path_param_text(name),
                "schema": { "type": "string", "format": "uuid" },
            })
        })
        .collect();
    parameters.extend(doc.query.iter().map(|param| {
        json!({
            "name": param.name,
            "in": "query",
            "required": param.required,
            "description": param.description,
            "schema": param.schema,
        })
    }));
    if !parameters.is_empty() {
        operation.insert("parameters".into(), parameters.into());
    }

    if let Some((body, required)) = doc.request {
        operation.insert(
            "requestBody".into(),
            json!({
                "required": required,
                "content": { "application/json": { "schema": body(requests) } },
            }),
        );
    }

    let mut responses = Map::new();
    let (status, body) = doc.success;
    let mut success = Map::new();
    success.insert(
        "description".into(),
        status.canonical_reason().unwrap_or("Success").into(),
    );
    if let Some(body) = body {
        success.insert(
            "content".into(),
            json!({ doc.media: { "schema": body(answers) } }),
        );
    }
    responses.insert(status.as_u16().to_string(), success.into());
    for status in errors {
        if let Some((name, _)) = error_name(status) {
            responses.insert(
                status.as_u16().to_string(),
                json!({ "$ref": format!("#/components/responses/{name}") }),
            );
        }
    }
    operation.insert("responses".into(), responses.into());

    let security = match route.access {
        Access::Anyone | Access::Application => json!([]),
        Access::Session => json!([{ "session": [] }]),
        Access::RunUser => json!([{ "runUserSession": [] }]),
        Access::Profile(..) => json!([{ "session": [] }, { "apiToken": [] }]),
    };
    operation.insert("security".into(), security);
    operation.into()
}
