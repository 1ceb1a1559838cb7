//! The OpenAPI document: `docs/openapi.json` is exactly what the route table generates, lists
//! every route (and nothing else), and every `$ref` in it resolves. That its operations are the
//! template's events is checked by `tests/tests/template.rs` (which reads the template), and
//! that it is valid OpenAPI 3.1 by `openapi-spec-validator` in `scripts/test.sh`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

const REGENERATE: &str = "cargo run -p tenantry-local -- openapi docs/openapi.json";

fn committed() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; write it with `{REGENERATE}`",
            path.display()
        )
    })
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = shared::http::openapi::text();
    let committed = committed();
    if committed != generated {
        // Name the first differing line, so the failure says what changed.
        let (line, (want, have)) = generated
            .lines()
            .zip(committed.lines())
            .enumerate()
            .find(|(_, (want, have))| want != have)
            .unwrap_or((
                generated.lines().count().min(committed.lines().count()),
                ("(end of document)", "(end of document)"),
            ));
        panic!(
            "docs/openapi.json is out of date with the route table: regenerate it with\n\n    \
             {REGENERATE}\n\nand commit it. First difference at line {}:\n  generated: {want}\n  \
             committed: {have}",
            line + 1
        );
    }
}

#[test]
fn the_route_docs_have_no_problems() {
    let problems = shared::http::openapi::problems();
    assert!(
        problems.is_empty(),
        "the route docs (Route::doc) have problems:\n  - {}",
        problems.join("\n  - ")
    );
}

/// (METHOD, path) of every operation of a document.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, _) in item.as_object().into_iter().flatten() {
            operations.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    operations
}

#[test]
fn the_document_lists_every_route_and_nothing_else() {
    let document: Value = serde_json::from_str(&committed()).expect("docs/openapi.json is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let documented = operations(&document);
    let table = shared::http::route_table();
    let routes: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/openapi.json and shared::http::route_table() disagree (regenerate with \
         `{REGENERATE}`):\n  routes not in the document: {missing:?}\n  operations that are \
         no route: {extra:?}"
    );
    // Each operation is tagged with the function that serves it, and is secured as its route.
    for route in &table {
        let operation = &document["paths"][route.path][route.method.to_ascii_lowercase()];
        assert_eq!(
            operation["tags"],
            serde_json::json!([route.function]),
            "{} {}",
            route.method,
            route.path
        );
        let open = operation["security"].as_array().is_some_and(Vec::is_empty);
        assert_eq!(
            open,
            matches!(
                route.access,
                shared::domain::access::Access::Anyone
                    | shared::domain::access::Access::Application
            ),
            "{} {}: security does not follow its access",
            route.method,
            route.path
        );
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| r.keys().any(|status| status.starts_with('2'))),
            "{} {}: no success response",
            route.method,
            route.path
        );
    }
}

/// Every `"$ref": "#/…"` of `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_errors_are_problems() {
    let document = shared::http::openapi::document();
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("$ref {target} is not local"));
        assert!(
            document.pointer(pointer).is_some(),
            "$ref {target} points at nothing"
        );
    }
    for (name, response) in document["components"]["responses"]
        .as_object()
        .expect("components.responses")
    {
        assert_eq!(
            response["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem",
            "{name}"
        );
    }
    let required = &document["components"]["schemas"]["Problem"]["required"];
    assert_eq!(
        *required,
        serde_json::json!(["type", "title", "status", "detail"])
    );
}

/// The local server's own route serves the same document, to anyone.
#[tokio::test]
async fn the_router_serves_the_document() {
    let api = tenantry_tests::api::Api::new(tenantry_tests::fixtures::embedded_table().await);
    let reply = api
        .call(http::Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(reply.json, shared::http::openapi::document());
}

/// Found by the fuzz run (issue 13): routes that re-check a password (throttled like a login) or
/// send invitations (capped per hour and day) can answer 429, and the document must say so.
#[test]
fn throttled_and_capped_routes_document_429() {
    let document = shared::http::openapi::document();
    for (method, path) in [
        ("delete", "/v1/profiles/{pid}"),
        ("post", "/v1/profiles/{pid}/tokens"),
        ("post", "/v1/profiles/{pid}/team"),
        ("post", "/v1/profiles/{pid}/invitations/{iid}/resend"),
    ] {
        assert!(
            document["paths"][path][method]["responses"]
                .get("429")
                .is_some(),
            "{method} {path} does not list 429"
        );
    }
}
