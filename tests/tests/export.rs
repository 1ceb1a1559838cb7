//! The streamed CSV export of a profile's run users, end to end on both adapters.

use http::StatusCode;
use serde_json::{Value, json};
use shared::domain::records::Tag;
use shared::keys;
use shared::store::Update;
use tenantry_tests::api::{Account, Api, PASSWORD, Reply};

tenantry_tests::on_both_adapters!(
    header_and_rows_with_and_without_tags,
    awkward_cells_round_trip_and_formulas_are_neutralised,
    resume_after_a_user_and_filters,
    who_may_export,
    a_profile_larger_than_a_store_page_is_exported_whole,
);

async fn create(api: &Api, owner: &Account, body: Value) -> String {
    let reply = api
        .post(
            &format!("/v1/profiles/{}/run/users", owner.pid),
            Some(&owner.token),
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.str("id")
}

async fn export(api: &Api, owner: &Account, query: &str, token: &str) -> Reply {
    api.get(
        &format!("/v1/profiles/{}/run/users/export{query}", owner.pid),
        token,
    )
    .await
}

/// The rows of a CSV answer, read back with a CSV reader (the header first).
fn rows(reply: &Reply) -> Vec<Vec<String>> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(reply.text.as_bytes());
    reader
        .records()
        .map(|record| {
            record
                .expect("a CSV record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

async fn header_and_rows_with_and_without_tags(api: Api) {
    let ann = api.account("ann@example.com").await;
    let plain = create(
        &api,
        &ann,
        json!({"email": "plain@example.com", "name": "Plain"}),
    )
    .await;
    let tagged = create(
        &api,
        &ann,
        json!({"email": "tagged@example.com", "name": "Tagged", "active": false,
               "tags": [{"key": "zone", "value": "eu"}, {"key": "plan", "value": "gold"}]}),
    )
    .await;
    let reply = export(&api, &ann, "", &ann.token).await;
    assert_eq!(reply.content_type(), "text/csv; charset=utf-8");
    let disposition = reply.headers["content-disposition"].to_str().unwrap_or("");
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"run-users-{}-", ann.pid))
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert!(reply.text.contains("\r\n"), "CRLF line ends");
    let rows = rows(&reply);
    assert_eq!(
        rows[0],
        [
            "id",
            "email",
            "name",
            "active",
            "created_at",
            "last_login",
            "plan",
            "zone"
        ]
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[1][..4],
        [plain.as_str(), "plain@example.com", "Plain", "true"]
    );
    assert_eq!(rows[1][6..], ["", ""], "no tags: empty cells");
    assert_eq!(
        rows[2][..4],
        [tagged.as_str(), "tagged@example.com", "Tagged", "false"]
    );
    assert_eq!(
        rows[2][6..],
        ["gold", "eu"],
        "one column per tag key, sorted"
    );
    assert!(rows[1][4].ends_with('Z') && rows[1][5].is_empty());
    // A tag key stays a column after its last user dropped it (the registry keeps every key).
    api.patch(
        &format!("/v1/profiles/{}/run/users/{tagged}", ann.pid),
        &ann.token,
        json!({"tags": []}),
    )
    .await;
    let rows = self::rows(&export(&api, &ann, "", &ann.token).await);
    assert_eq!(rows[0].len(), 8);
    assert_eq!(rows[2][6..], ["", ""]);
}

async fn awkward_cells_round_trip_and_formulas_are_neutralised(api: Api) {
    let ann = api.account("ann@example.com").await;
    // Line breaks are free text in a tag value; the record's own fields refuse control characters.
    let awkward = "Dr. \"Quote\", Jr.\nSecond line — Zoë 🚀";
    let company = "Quote \"Co\", Ltd — Zoë 🚀";
    create(
        &api,
        &ann,
        json!({"email": "a@example.com", "name": "Quoted", "company": company,
        "tags": [{"key": "note", "value": awkward}]}),
    )
    .await;
    for (i, dangerous) in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"].iter().enumerate() {
        create(
            &api,
            &ann,
            json!({"email": format!("d{i}@example.com"), "name": format!("{dangerous} name"),
            "tags": [{"key": "note", "value": format!("{dangerous}cmd")}]}),
        )
        .await;
    }
    let rows = rows(&export(&api, &ann, "", &ann.token).await);
    assert_eq!(rows[0][6], "note");
    assert_eq!(
        rows[1][6], awkward,
        "quotes, commas, newlines and unicode round-trip"
    );
    for (row, dangerous) in rows[2..].iter().zip(["=1+1", "+1", "-1", "@SUM(A1)"]) {
        assert_eq!(
            row[2],
            format!("'{dangerous} name"),
            "the name is neutralised"
        );
        assert_eq!(row[6], format!("'{dangerous}cmd"), "a tag value too");
    }
    // A tab at the start is trimmed away from names and values before it is stored; a cell
    // can still not start with one.
    assert!(
        rows.iter()
            .flatten()
            .all(|cell| !cell.starts_with(['=', '+', '-', '@', '\t', '\r']))
    );
}

async fn resume_after_a_user_and_filters(api: Api) {
    let ann = api.account("ann@example.com").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut tags = vec![];
        if i % 3 == 0 {
            tags.push(json!({"key": "vip", "value": "yes"}));
        }
        ids.push(
            create(
                &api,
                &ann,
                json!({"email": format!("u{i:02}@example.com"),
            "name": format!("{} {i:02}", if i % 2 == 0 { "Even" } else { "Odd" }),
            "active": i != 4, "tags": tags}),
            )
            .await,
        );
    }
    let first = |rows: Vec<Vec<String>>| {
        rows.into_iter()
            .skip(1)
            .map(|row| row[0].clone())
            .collect::<Vec<_>>()
    };
    let all = first(rows(&export(&api, &ann, "", &ann.token).await));
    assert_eq!(all, ids);
    let resumed = first(rows(
        &export(&api, &ann, &format!("?after={}", ids[4]), &ann.token).await,
    ));
    assert_eq!(resumed, ids[5..].to_vec());
    let newest_first = first(rows(
        &export(
            &api,
            &ann,
            &format!("?order=-created_at&after={}", ids[4]),
            &ann.token,
        )
        .await,
    ));
    let mut expected = ids[..4].to_vec();
    expected.reverse();
    assert_eq!(newest_first, expected);
    let vips = first(rows(&export(&api, &ann, "?tag.vip=yes", &ann.token).await));
    assert_eq!(vips, [0, 3, 6, 9].map(|i| ids[i].clone()));
    let after_vip = first(rows(
        &export(
            &api,
            &ann,
            &format!("?tag.vip=yes&after={}", ids[3]),
            &ann.token,
        )
        .await,
    ));
    assert_eq!(after_vip, [6, 9].map(|i| ids[i].clone()));
    let inactive = first(rows(&export(&api, &ann, "?active=false", &ann.token).await));
    assert_eq!(inactive, vec![ids[4].clone()]);
    let odd = first(rows(&export(&api, &ann, "?q=odd", &ann.token).await));
    assert_eq!(odd.len(), 6);
    let after_odd = first(rows(
        &export(&api, &ann, &format!("?q=odd&after={}", ids[5]), &ann.token).await,
    ));
    assert_eq!(after_odd, [7, 9, 11].map(|i| ids[i].clone()));
    // A resume point that was deleted still marks its place in creation order.
    api.delete(
        &format!("/v1/profiles/{}/run/users/{}", ann.pid, ids[4]),
        &ann.token,
        None,
    )
    .await;
    let resumed = first(rows(
        &export(&api, &ann, &format!("?after={}", ids[4]), &ann.token).await,
    ));
    assert_eq!(resumed, ids[5..].to_vec());
    for bad in [
        "?after=nope",
        "?limit=5",
        "?cursor=x",
        "?order=age",
        "?color=red",
    ] {
        let reply = export(&api, &ann, bad, &ann.token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.text
        );
    }
}

async fn who_may_export(api: Api) {
    let ann = api.account("ann@example.com").await;
    let bob = api.account("bob@example.com").await;
    create(
        &api,
        &ann,
        json!({"email": "a@example.com", "name": "A", "password": "a long run passphrase"}),
    )
    .await;
    let read = api
        .post(&format!("/v1/profiles/{}/tokens", ann.pid), Some(&ann.token),
            json!({"name": "ro", "permission": "read", "expires_in": "1 day", "password": PASSWORD}))
        .await
        .str("token");
    assert_eq!(
        export(&api, &ann, "", &read).await.status,
        StatusCode::OK,
        "read tokens export"
    );
    let stranger = export(&api, &ann, "", &bob.token).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    assert!(!stranger.text.contains("a@example.com"));
    let login = api
        .post(
            &format!("/v1/profiles/{}/run/login", ann.pid),
            None,
            json!({"email": "a@example.com", "password": "a long run passphrase"}),
        )
        .await;
    let run_user = login.str("token");
    assert_eq!(
        export(&api, &ann, "", &run_user).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        export(&api, &ann, "", "tnys_forged").await.status,
        StatusCode::UNAUTHORIZED
    );
    let before = api
        .get(&format!("/v1/profiles/{}/usage", ann.pid), &ann.token)
        .await
        .json["services"]["api_requests"]["used"]
        .as_i64();
    export(&api, &ann, "", &ann.token).await;
    let after = api
        .get(&format!("/v1/profiles/{}/usage", ann.pid), &ann.token)
        .await
        .json["services"]["api_requests"]["used"]
        .as_i64();
    assert_eq!(
        after.zip(before).map(|(a, b)| a - b),
        Some(1),
        "one api_requests per export"
    );
}

async fn a_profile_larger_than_a_store_page_is_exported_whole(api: Api) {
    let ann = api.account("ann@example.com").await;
    // The users are written straight to the table (`tenantry_tests::seed`: the record and the
    // e-mail claim `create` writes, without the list entries an unfiltered export never reads),
    // 100 items per transaction: what is tested is the export reading more than a store page,
    // and creating 450 users one request at a time takes minutes on DynamoDB Local.
    let pid: uuid::Uuid = ann.pid.parse().expect("a profile id");
    let tags: Vec<Tag> = (0..10)
        .map(|k| Tag {
            key: format!("key{k}"),
            value: "v".repeat(250),
        })
        .collect();
    let now = api.app.now();
    let mut ids = Vec::new();
    let mut writes = Vec::new();
    for i in 0..450 {
        let user = tenantry_tests::seed::run_user(
            pid,
            &format!("big{i:03}@example.com"),
            format!("Big {i:03} {}", "n".repeat(80)),
            Some("c".repeat(100)),
            tags.clone(),
            now,
        );
        ids.push(user.uid.to_string());
        writes.extend(tenantry_tests::seed::run_user_items(&user));
    }
    for chunk in writes.chunks(100) {
        api.app
            .table
            .transact(chunk.to_vec())
            .await
            .expect("seeding");
    }
    let mut registry = Update::new();
    for tag in &tags {
        registry = registry.set(format!("key:{}", tag.key), true);
    }
    api.app
        .table
        .update(&keys::run_tag_keys(pid), registry, None)
        .await
        .expect("the registry");
    let reply = export(&api, &ann, "", &ann.token).await;
    assert!(
        reply.text.len() > 1024 * 1024,
        "more than a 1 MB store page: {}",
        reply.text.len()
    );
    let rows = rows(&reply);
    assert_eq!(rows.len(), 451);
    let exported: Vec<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
    assert_eq!(exported, ids);
}
