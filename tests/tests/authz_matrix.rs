//! The authorization matrix (`tests/authz_matrix.txt`): every route × every principal, each case
//! on a fresh world, on both adapters.

use std::sync::Arc;

use http::Method;
use serde_json::{Value, json};
use shared::domain::access::Access;
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::world::{PRINCIPALS, World};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

tenantry_tests::on_both_adapters!(every_route_and_principal_gets_the_expected_status);

struct Row {
    method: String,
    path: String,
    /// A body decided case (`+admin`: invite as admin; `+owner`: make a member owner), or none.
    variant: Option<String>,
    expected: Vec<u16>,
}

fn matrix() -> Vec<Row> {
    let text = include_str!("../authz_matrix.txt");
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields: Vec<&str> = line.split_whitespace().collect();
        let variant = match fields.get(2) {
            Some(field) if field.starts_with('+') => Some(fields.remove(2).to_owned()),
            _ => None,
        };
        assert_eq!(
            fields.len(),
            2 + PRINCIPALS.len(),
            "authz_matrix.txt line {}: a method, a path, maybe a +variant, and {} statuses",
            n + 1,
            PRINCIPALS.len()
        );
        rows.push(Row {
            method: fields[0].to_owned(),
            path: fields[1].to_owned(),
            variant,
            expected: fields[2..]
                .iter()
                .map(|s| s.parse().expect("a status"))
                .collect(),
        });
    }
    rows
}

#[test]
fn the_matrix_lists_exactly_the_routes_that_exist() {
    let listed: Vec<(String, String)> = matrix()
        .iter()
        .map(|row| (row.method.clone(), row.path.clone()))
        .collect();
    let routes: Vec<(String, String)> = shared::http::route_table()
        .iter()
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    for route in &routes {
        assert!(
            listed.contains(route),
            "route {route:?} is missing from authz_matrix.txt"
        );
    }
    for row in &listed {
        assert!(
            routes.contains(row),
            "authz_matrix.txt lists {row:?}, which is not a route"
        );
    }
}

/// The body a case sends: a valid request, so only authorization decides the outcome (or, for
/// a `+variant` row, the body the variant is about).
fn body(
    method: &str,
    path: &str,
    variant: Option<&str>,
    principal: &str,
    world: &World,
) -> Option<Value> {
    match (method, path, variant) {
        ("POST", "/v1/profiles/{pid}/team", Some("+admin")) => {
            return Some(json!({"email": world.candidate.email, "role": "admin"}));
        }
        ("PATCH", "/v1/profiles/{pid}/team/{aid}", Some("+owner")) => {
            return Some(json!({"role": "owner"}));
        }
        (_, _, Some(other)) => panic!("unknown variant {other} of {method} {path}"),
        ("POST", "/v1/invitations/{iid}/accept" | "/v1/invitations/{iid}/decline", None) => {
            return world.link_of(principal).map(|link| json!({"token": link}));
        }
        _ => {}
    }
    match (method, path) {
        ("POST", "/v1/accounts") => Some(json!({
            "email": format!("new-{}@example.com", uuid::Uuid::now_v7().simple()),
            "name": "New",
            "password": PASSWORD,
        })),
        ("POST", "/v1/login") => Some(json!({"email": world.owner.email, "password": PASSWORD})),
        ("POST", "/v1/profiles") => Some(json!({"name": "Another"})),
        ("DELETE", "/v1/account") => Some(json!({"password": PASSWORD})),
        ("POST", "/v1/accounts/verify") => Some(json!({"token": "tnyv_not-a-link"})),
        ("POST", "/v1/password-reset") => Some(json!({"email": world.owner.email})),
        ("POST", "/v1/password-reset/confirm") => {
            Some(json!({"token": "tnyw_not-a-link", "password": PASSWORD}))
        }
        ("PUT", "/v1/account/password") => Some(json!({
            "current_password": PASSWORD, "new_password": "another password, long enough",
        })),
        ("PATCH", "/v1/profiles/{pid}") => Some(json!({"name": "Renamed"})),
        ("DELETE", "/v1/profiles/{pid}") => Some(json!({"password": PASSWORD})),
        ("PUT", "/v1/profiles/{pid}/limits") => Some(json!({"tokens": 12})),
        ("POST", "/v1/profiles/{pid}/team") => Some(json!({"email": world.candidate.email})),
        ("PATCH", "/v1/profiles/{pid}/team/{aid}") => Some(json!({"role": "admin"})),
        ("POST", "/v1/profiles/{pid}/tokens") => Some(json!({
            "name": "ci", "permission": "read", "expires_in": "1 day", "password": PASSWORD,
        })),
        _ => None,
    }
}

/// One case: `principal` calls the row's route on `world`; what went wrong, if anything.
async fn run_case(
    api: &Api,
    world: &World,
    row: &Row,
    profile_route: bool,
    principal: &str,
    expected: u16,
) -> Vec<String> {
    let (method, template, variant) = (&row.method, &row.path, row.variant.as_deref());
    let mut path = world.path_for(principal, template);
    if template.ends_with("/statistics") && template.contains("{pid}") {
        path.push_str("?start=2026-01-01&end=2026-01-31&periodicity=day");
    }
    // Strangers to tenant A's profile: another tenant, a removed member, an invitee, the owner's
    // token of another profile.
    let stranger = principal.starts_with("other_")
        || matches!(
            principal,
            "removed" | "removed_token" | "invitee" | "owner_elsewhere"
        );
    let before = if stranger && profile_route {
        Some(world.tenant_a(api).await)
    } else {
        None
    };
    let reply = api
        .call(
            method.parse::<Method>().expect("method"),
            &path,
            world.token_of(principal).as_deref(),
            body(method, template, variant, principal, world),
        )
        .await;
    let mut failures = Vec::new();
    let case = match variant {
        Some(variant) => format!("{method} {template} {variant}"),
        None => format!("{method} {template}"),
    };
    if reply.status.as_u16() != expected {
        failures.push(format!(
            "{case} as {principal}: expected {expected}, got {} {}",
            reply.status, reply.text
        ));
    }
    if reply.status.as_u16() >= 400 && reply.content_type() != "application/problem+json" {
        failures.push(format!("{case} as {principal}: not problem+json"));
    }
    if let Some(before) = before
        && world.tenant_a(api).await != before
    {
        failures.push(format!("{case} as {principal}: tenant A's data changed"));
    }
    failures
}

/// Every cell of the matrix. A case that may change the world (a write expected to succeed, or
/// a principal that needs the world prepared) gets a fresh world of its own; the cases that must
/// not change it (refusals, which write nothing, and reads) share one world per row and run one
/// after another on it, so each still sees the world as built.
async fn every_route_and_principal_gets_the_expected_status(api: Api) {
    let api = Arc::new(api);
    let access: Vec<(String, String, Access)> = shared::http::route_table()
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned(), r.access))
        .collect();
    let gate = Arc::new(Semaphore::new(8));
    let mut cases = JoinSet::new();
    for row in matrix() {
        let row = Arc::new(row);
        let profile_route = access.iter().any(|(m, p, a)| {
            *m == row.method && *p == row.path && matches!(a, Access::Profile(..))
        });
        let mut quiet = Vec::new();
        for (principal, expected) in PRINCIPALS.iter().zip(row.expected.iter().copied()) {
            let reads_or_refused = row.method == "GET" || expected >= 400;
            if reads_or_refused && *principal != "owner_exhausted" {
                quiet.push((*principal, expected));
                continue;
            }
            let (api, gate, row) = (api.clone(), gate.clone(), row.clone());
            cases.spawn(async move {
                let _permit = gate.acquire().await.expect("semaphore");
                let world = World::build(&api).await;
                world.prepare_for(&api, principal).await;
                (
                    1,
                    run_case(&api, &world, &row, profile_route, principal, expected).await,
                )
            });
        }
        let (api, gate) = (api.clone(), gate.clone());
        cases.spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            let world = World::build(&api).await;
            let mut failures = Vec::new();
            for (principal, expected) in &quiet {
                failures.extend(
                    run_case(&api, &world, &row, profile_route, principal, *expected).await,
                );
            }
            (quiet.len(), failures)
        });
    }
    let mut failures = Vec::new();
    let mut count = 0;
    while let Some(result) = cases.join_next().await {
        let (ran, failed) = result.expect("a case ran");
        failures.extend(failed);
        count += ran;
    }
    assert_eq!(
        count,
        matrix().len() * PRINCIPALS.len(),
        "every cell of the matrix ran"
    );
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Deny by default: every route that does not declare `Anyone` refuses an anonymous caller
/// before its handler runs (walks the route table itself, not the matrix).
#[tokio::test]
async fn every_route_refuses_anonymous_callers_unless_declared_open() {
    let api = Api::new(tenantry_tests::fixtures::embedded_table().await);
    let pid = uuid::Uuid::now_v7();
    for route in shared::http::route_table() {
        let path = route
            .path
            .replace("{pid}", &pid.to_string())
            .replace("{tid}", &uuid::Uuid::now_v7().to_string());
        let before = api.calls();
        let reply = api
            .call(
                route.method.parse().expect("method"),
                &path,
                None,
                Some(json!({})),
            )
            .await;
        if route.access == Access::Anyone {
            assert_ne!(reply.status, 401, "{} {}", route.method, route.path);
        } else {
            assert_eq!(
                reply.status, 401,
                "{} {}: {}",
                route.method, route.path, reply.text
            );
            assert_eq!(
                api.calls().since(&before).total(),
                0,
                "{} {} reached the store",
                route.method,
                route.path
            );
        }
    }
}
