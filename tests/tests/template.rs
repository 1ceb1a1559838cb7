//! The SAM template and the route table agree, both ways.
//!
//! Every route of `shared::http::route_table()` is an `HttpApi` event (same method, same path) on
//! the function that serves it, and every `HttpApi` event of the template is a route of that same
//! function. Function `run-users` is the template resource `RunUsersFunction`, whose
//! `Metadata.BuildProperties.Binary` is `run-users`.
//!
//! A function that has a `FunctionUrlConfig` (the streamed CSV export: HTTP APIs cannot stream) is
//! reached through its own Function URL instead; its routes need no `HttpApi` event, and it must
//! then have none.
//!
//! Routes of function `shared::http::LOCAL` are served by the local server only: no template
//! resource, no event. The OpenAPI document (`docs/openapi.json`) is held to the same check: its
//! operations, each tagged with its function, are the template's events.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_norway::Value;

/// (function, METHOD, path)
type Route = (String, String, String);

/// What the check needs of a route: (function, method, path). Kept apart from
/// `shared::http::RouteInfo` so that the check does not depend on its other fields.
type RouteRef<'a> = (&'a str, &'a str, &'a str);

/// `run-users` -> `RunUsersFunction`.
fn resource_name(function: &str) -> String {
    let mut out = String::new();
    for part in function.split(['-', '_']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out.push_str("Function");
    out
}

/// The logical id a `!Ref X` / `{Ref: X}` points at.
fn ref_target(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        Value::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// Every problem found; empty means the template and the routes agree.
fn check(template_yaml: &str, routes: &[RouteRef<'_>]) -> Vec<String> {
    let mut problems = Vec::new();
    let template: Value = match serde_norway::from_str(template_yaml) {
        Ok(v) => v,
        Err(e) => return vec![format!("template does not parse as YAML: {e}")],
    };
    let Some(resources) = template.get("Resources").and_then(Value::as_mapping) else {
        return vec!["template has no Resources mapping".into()];
    };
    let http_apis: BTreeSet<&str> = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi"))
        .filter_map(|(k, _)| k.as_str())
        .collect();

    // The routes each function resource declares, and which functions are URL-served.
    let mut declared: BTreeSet<Route> = BTreeSet::new();
    let mut functions: BTreeMap<String, bool> = BTreeMap::new(); // function name -> URL-served
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new(); // (METHOD, path) -> event
    for (logical_id, res) in resources {
        let logical_id = logical_id.as_str().unwrap_or_default();
        if res.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = res
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str);
        let Some(binary) = binary else {
            problems.push(format!("{logical_id}: no Metadata.BuildProperties.Binary"));
            continue;
        };
        if resource_name(binary) != logical_id {
            problems.push(format!(
                "{logical_id}: builds binary `{binary}`, so it should be named `{}`",
                resource_name(binary)
            ));
        }
        let props = res.get("Properties");
        let url = props.and_then(|p| p.get("FunctionUrlConfig"));
        let url_served = url.is_some();
        if let Some(url) = url {
            // A URL exists only to stream, and the router checks the bearer token itself.
            let field = |name: &str| url.get(name).and_then(Value::as_str).unwrap_or("");
            if field("InvokeMode") != "RESPONSE_STREAM" || field("AuthType") != "NONE" {
                problems.push(format!(
                    "{logical_id}: its Function URL must be InvokeMode RESPONSE_STREAM, AuthType NONE"
                ));
            }
        }
        functions.insert(binary.to_string(), url_served);

        let events = props
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping);
        for (event_name, event) in events.into_iter().flatten() {
            let event_name = event_name.as_str().unwrap_or_default();
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let where_ = format!("{logical_id}.Events.{event_name}");
            let ep = event.get("Properties");
            let method = ep.and_then(|p| p.get("Method")).and_then(Value::as_str);
            let path = ep.and_then(|p| p.get("Path")).and_then(Value::as_str);
            let (Some(method), Some(path)) = (method, path) else {
                problems.push(format!(
                    "{where_}: HttpApi event without a literal Method and Path"
                ));
                continue;
            };
            match ep.and_then(|p| p.get("ApiId")).map(ref_target) {
                Some(Some(api)) if http_apis.contains(api) => {}
                Some(_) => problems.push(format!(
                    "{where_}: ApiId must be a !Ref to the template's AWS::Serverless::HttpApi"
                )),
                None => problems.push(format!(
                    "{where_}: no ApiId (SAM would create a second, implicit HTTP API)"
                )),
            }
            if url_served {
                problems.push(format!(
                    "{where_}: `{binary}` is served through its Function URL, it must have no HttpApi event"
                ));
            }
            let method = method.to_ascii_uppercase();
            if let Some(other) = seen.insert((method.clone(), path.to_string()), where_.clone()) {
                problems.push(format!(
                    "{where_}: {method} {path} is also declared by {other}"
                ));
            }
            declared.insert((binary.to_string(), method, path.to_string()));
        }
    }

    let expected: BTreeSet<Route> = routes
        .iter()
        .map(|(function, method, path)| {
            (
                function.to_string(),
                method.to_ascii_uppercase(),
                path.to_string(),
            )
        })
        .collect();

    for (function, method, path) in &expected {
        match functions.get(function) {
            None => problems.push(format!(
                "route {method} {path} of `{function}`: the template has no function `{}` with Binary `{function}`",
                resource_name(function)
            )),
            Some(true) => {} // reached through the function's own URL
            Some(false) => {
                if !declared.contains(&(function.clone(), method.clone(), path.clone())) {
                    let elsewhere = declared
                        .iter()
                        .find(|(_, m, p)| m == method && p == path)
                        .map(|(f, _, _)| format!(" (it is on `{}` instead)", resource_name(f)))
                        .unwrap_or_default();
                    problems.push(format!(
                        "route {method} {path} of `{function}`: no HttpApi event on {}{elsewhere}",
                        resource_name(function)
                    ));
                }
            }
        }
    }
    for (function, method, path) in &declared {
        if !expected.contains(&(function.clone(), method.clone(), path.clone())) {
            problems.push(format!(
                "HttpApi event {method} {path} on {} is not a route of `{function}`",
                resource_name(function)
            ));
        }
    }
    problems
}

#[test]
fn template_events_match_the_route_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    let yaml = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let table = shared::http::route_table();
    assert!(!table.is_empty(), "the route table is empty");
    let routes: Vec<RouteRef<'_>> = table
        .iter()
        .filter(|r| r.function != shared::http::LOCAL)
        .map(|r| (r.function, r.method, r.path))
        .collect();
    let problems = check(&yaml, &routes);
    assert!(
        problems.is_empty(),
        "{} and shared::http::route_table() disagree:\n  - {}",
        path.display(),
        problems.join("\n  - ")
    );
}

#[test]
fn template_events_match_the_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let yaml = std::fs::read_to_string(root.join("infra/template.yaml"))
        .unwrap_or_else(|e| panic!("cannot read infra/template.yaml: {e}"));
    let text = std::fs::read_to_string(root.join("docs/openapi.json"))
        .unwrap_or_else(|e| panic!("cannot read docs/openapi.json: {e}"));
    let document: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("docs/openapi.json: {e}"));
    // (function, METHOD, path) of every operation, the function being its one tag.
    let mut operations: Vec<(String, String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let function = operation["tags"][0].as_str().unwrap_or_default();
            if function != shared::http::LOCAL {
                operations.push((function.into(), method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    assert!(
        !operations.is_empty(),
        "docs/openapi.json has no operations"
    );
    let routes: Vec<RouteRef<'_>> = operations
        .iter()
        .map(|(f, m, p)| (f.as_str(), m.as_str(), p.as_str()))
        .collect();
    let problems = check(&yaml, &routes);
    assert!(
        problems.is_empty(),
        "infra/template.yaml and docs/openapi.json disagree:\n  - {}",
        problems.join("\n  - ")
    );
}

// The check itself: it must catch each kind of mismatch, not just pass.

const SAMPLE: &str = r"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Table:
    Type: AWS::DynamoDB::Table
  RunUsersFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: run-users
    Properties:
      CodeUri: ..
      Environment:
        Variables:
          TABLE_NAME: !Ref Table
      Events:
        Me:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: get
            Path: /v1/run/me
        Stream:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
  UserExportFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: user-export
    Properties:
      FunctionUrlConfig:
        AuthType: NONE
        InvokeMode: RESPONSE_STREAM
";

fn route(function: &'static str, method: &'static str, path: &'static str) -> RouteRef<'static> {
    (function, method, path)
}

fn sample_routes() -> Vec<RouteRef<'static>> {
    vec![
        route("run-users", "GET", "/v1/run/me"),
        route("user-export", "GET", "/v1/profiles/{pid}/run/users/export"),
    ]
}

#[test]
fn check_accepts_a_matching_template() {
    assert_eq!(check(SAMPLE, &sample_routes()), Vec::<String>::new());
}

#[test]
fn check_reports_a_function_url_that_does_not_stream() {
    let buffered = SAMPLE.replace("InvokeMode: RESPONSE_STREAM", "InvokeMode: BUFFERED");
    let problems = check(&buffered, &sample_routes());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("RESPONSE_STREAM"), "{problems:?}");
}

#[test]
fn check_reports_a_route_without_event() {
    let mut routes = sample_routes();
    routes.push(route("run-users", "POST", "/v1/profiles/{pid}/run/login"));
    let problems = check(SAMPLE, &routes);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("POST /v1/profiles/{pid}/run/login"),
        "{problems:?}"
    );
}

#[test]
fn check_reports_an_event_without_route() {
    let routes = vec![route("user-export", "GET", "/x")];
    let problems = check(SAMPLE, &routes);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("GET /v1/run/me"), "{problems:?}");
}

#[test]
fn check_reports_a_route_on_the_wrong_function_and_a_missing_function() {
    let routes = vec![
        route("accounts", "GET", "/v1/run/me"),
        route("user-export", "GET", "/x"),
    ];
    let problems = check(SAMPLE, &routes);
    // accounts has no resource; the event on RunUsersFunction has no route of run-users.
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("AccountsFunction")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("not a route of `run-users`")),
        "{problems:?}"
    );
}

#[test]
fn check_reports_duplicates_and_a_missing_api_id() {
    let yaml = SAMPLE.replace(
        "        Stream:\n",
        "        Again:\n          Type: HttpApi\n          Properties:\n            Method: GET\n            Path: /v1/run/me\n        Stream:\n",
    );
    let problems = check(&yaml, &sample_routes());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("no ApiId")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("also declared")),
        "{problems:?}"
    );
}

#[test]
fn resource_names_follow_the_function_names() {
    assert_eq!(resource_name("accounts"), "AccountsFunction");
    assert_eq!(resource_name("run-users"), "RunUsersFunction");
    assert_eq!(resource_name("policy-check"), "PolicyCheckFunction");
}
