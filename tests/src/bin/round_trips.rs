//! Prints the storage round trips of every endpoint, measured through the counting adapter on
//! the embedded store (the port is the same for DynamoDB, so the counts are DynamoDB's).
//!
//! `cargo run -p tenantry-tests --bin round-trips`

use http::Method;
use serde_json::{Value, json};
use shared::store::counting::Calls;
use tenantry_tests::api::{Api, PASSWORD};
use tenantry_tests::world::World;

struct Row {
    method: &'static str,
    route: &'static str,
    status: u16,
    calls: Calls,
}

async fn measure(
    api: &Api,
    rows: &mut Vec<Row>,
    method: &'static str,
    route: &'static str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> tenantry_tests::api::Reply {
    let before = api.calls();
    let reply = api
        .call(
            method.parse::<Method>().unwrap_or(Method::GET),
            path,
            token,
            body,
        )
        .await;
    rows.push(Row {
        method,
        route,
        status: reply.status.as_u16(),
        calls: api.calls().since(&before),
    });
    reply
}

#[tokio::main]
async fn main() {
    let api = Api::new(tenantry_tests::fixtures::embedded_table().await);
    let world = World::build(&api).await;
    let mut rows = Vec::new();
    let owner = world.owner.session.clone();
    let pid = world.pid;
    let r = &mut rows;
    measure(
        &api,
        r,
        "POST",
        "/v1/accounts",
        "/v1/accounts",
        None,
        Some(json!({"email": "rt@example.com", "name": "RT", "password": PASSWORD})),
    )
    .await;
    measure(
        &api,
        r,
        "POST",
        "/v1/login",
        "/v1/login",
        None,
        Some(json!({"email": world.owner.email, "password": PASSWORD})),
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/account",
        "/v1/account",
        Some(&owner),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/account/statistics",
        "/v1/account/statistics",
        Some(&owner),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/account/invitations",
        "/v1/account/invitations",
        Some(&world.invitee.session),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "POST",
        "/v1/profiles",
        "/v1/profiles",
        Some(&owner),
        Some(json!({"name": "New"})),
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/profiles",
        "/v1/profiles",
        Some(&owner),
        None,
    )
    .await;
    let one = format!("/v1/profiles/{pid}");
    measure(
        &api,
        r,
        "GET",
        "/v1/profiles/{pid} (session)",
        &one,
        Some(&owner),
        None,
    )
    .await;
    // The token's first use this minute writes its last use; the second shows the usual cost.
    measure(
        &api,
        r,
        "GET",
        "/v1/profiles/{pid} (read token, first use in a minute)",
        &one,
        Some(&world.read),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/profiles/{pid} (read token)",
        &one,
        Some(&world.read),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "PATCH",
        "/v1/profiles/{pid}",
        &one,
        Some(&owner),
        Some(json!({"name": "Renamed"})),
    )
    .await;
    measure(
        &api,
        r,
        "PUT",
        "/v1/profiles/{pid}/limits",
        &format!("{one}/limits"),
        Some(&owner),
        Some(json!({"tokens": 12})),
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/profiles/{pid}/usage",
        &format!("{one}/usage"),
        Some(&owner),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/profiles/{pid}/statistics",
        &format!("{one}/statistics?start=2026-11-01&end=2026-11-30"),
        Some(&owner),
        None,
    )
    .await;
    let issued = measure(
        &api,
        r,
        "POST",
        "/v1/profiles/{pid}/tokens",
        &format!("{one}/tokens"),
        Some(&owner),
        Some(
            json!({"name": "t", "permission": "read", "expires_in": "1 day", "password": PASSWORD}),
        ),
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/profiles/{pid}/tokens",
        &format!("{one}/tokens"),
        Some(&owner),
        None,
    )
    .await;
    let tid = issued.json["id"].as_str().unwrap_or_default().to_owned();
    measure(
        &api,
        r,
        "DELETE",
        "/v1/profiles/{pid}/tokens/{tid}",
        &format!("{one}/tokens/{tid}"),
        Some(&owner),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "POST",
        "/v1/profiles/{pid}/team",
        &format!("{one}/team"),
        Some(&owner),
        Some(json!({"email": world.candidate.email})),
    )
    .await;
    measure(
        &api,
        r,
        "GET",
        "/v1/profiles/{pid}/team",
        &format!("{one}/team"),
        Some(&owner),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "POST",
        "/v1/profiles/{pid}/invitations/{iid}/resend",
        &format!("{one}/invitations/{}/resend", world.iid),
        Some(&owner),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "POST",
        "/v1/invitations/{iid}/accept (session)",
        &format!("/v1/invitations/{}/accept", world.iid),
        Some(&world.invitee.session),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "PATCH",
        "/v1/profiles/{pid}/team/{aid}",
        &format!("{one}/team/{}", world.member.aid),
        Some(&owner),
        Some(json!({"role": "admin"})),
    )
    .await;
    measure(
        &api,
        r,
        "DELETE",
        "/v1/profiles/{pid}/team/{aid}",
        &format!("{one}/team/{}", world.member.aid),
        Some(&owner),
        None,
    )
    .await;
    measure(
        &api,
        r,
        "DELETE",
        "/v1/profiles/{pid}",
        &one,
        Some(&owner),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    measure(
        &api,
        r,
        "POST",
        "/v1/logout",
        "/v1/logout",
        Some(&owner),
        None,
    )
    .await;

    println!(
        "| method | route | status | round trips | get | query | put | update | delete | transact |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        let c = row.calls;
        println!(
            "| {} | `{}` | {} | **{}** | {} | {} | {} | {} | {} | {} |",
            row.method,
            row.route,
            row.status,
            c.total(),
            c.get,
            c.query,
            c.put,
            c.update,
            c.delete,
            c.transact
        );
    }
}
