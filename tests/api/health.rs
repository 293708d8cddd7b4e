use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(healthz_answers_ok, |app: TestApp| async move {
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let request_id = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(request_id.len(), 36, "a UUID: {request_id}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
});

both_backends!(
    readyz_reports_the_database_reachable,
    |app: TestApp| async move {
        let response = app.get("/readyz").await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ready");
    }
);

both_backends!(
    metrics_count_requests_by_route_and_status,
    |app: TestApp| async move {
        app.get("/healthz").await;
        app.get("/no/such/route").await;
        let text = app.get("/metrics").await.text().await.unwrap();
        assert!(
            text.contains(
                r#"koolicense_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
        assert!(
            text.contains("koolicense_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
);

both_backends!(openapi_document_is_served, |app: TestApp| async move {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["openapi"].as_str().unwrap().starts_with("3."));
});

both_backends!(@backend migrations_revert_and_apply_again, |backend| async move {
    let db = crate::helpers::TestDatabase::create(backend);
    let mut conn = db.connect();
    let applied = koolicense::db::run_migrations(&mut conn).unwrap();
    assert!(!applied.is_empty());
    let reverted = koolicense::db::revert_all_migrations(&mut conn).unwrap();
    assert_eq!(reverted.len(), applied.len());
    assert_eq!(koolicense::db::run_migrations(&mut conn).unwrap(), applied);
    assert!(koolicense::db::run_migrations(&mut conn).unwrap().is_empty(), "nothing left to apply");
});

both_backends!(@backend legacy_event_kinds_are_renamed_by_their_migration, |backend| async move {
    use diesel::RunQueryDsl;
    use koolicense::db::models::events::{EventKind, Subject, for_subject};
    let db = crate::helpers::TestDatabase::create(backend);
    let mut conn = db.connect();
    koolicense::db::run_migrations(&mut conn).unwrap();
    // Back to just before the event kinds migration (and any newer one).
    while koolicense::db::revert_last_migration(&mut conn).unwrap() != "20261202000000" {}
    // As an older version recorded a legacy expireLicense.
    diesel::sql_query(
        "INSERT INTO events (id, subject_type, subject_id, kind, dedupe_key, detail, created_at) \
         VALUES ('ev-old', 'instance', 'inst-old', 'expireLicense', NULL, '{}', CURRENT_TIMESTAMP)",
    )
    .execute(&mut conn)
    .unwrap();
    koolicense::db::run_migrations(&mut conn).unwrap();
    let history = for_subject(&mut conn, Subject::Instance, "inst-old").unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, EventKind::Frozen);
    assert_eq!(history[0].detail, r#"{"via":"expireLicense"}"#);
    // And back: the down migration restores what the older version reads.
    while koolicense::db::revert_last_migration(&mut conn).unwrap() != "20261202000000" {}
    let kinds: Vec<String> = diesel::sql_query("SELECT kind AS text FROM events")
        .load::<Text>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|row| row.text)
        .collect();
    assert_eq!(kinds, ["expireLicense"]);
});

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

both_backends!(@backend stored_code_statuses_are_normalised_by_their_migration, |backend| async move {
    use diesel::RunQueryDsl;
    use koolicense::db::models::auth_codes::{self, CodeStatus};
    let db = crate::helpers::TestDatabase::create(backend);
    let mut conn = db.connect();
    koolicense::db::run_migrations(&mut conn).unwrap();
    while koolicense::db::revert_last_migration(&mut conn).unwrap() != "20261202010000" {}
    // As older versions stored KooGallery's words.
    for (code, status) in [("PL-A", "active"), ("PL-E", " expired "), ("PL-R", "RELEASED")] {
        diesel::sql_query(format!(
            "INSERT INTO auth_codes (id, code, code_hint, status, created_at, updated_at) \
             VALUES ('{code}', '{code}', 'PL…', '{status}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    koolicense::db::run_migrations(&mut conn).unwrap();
    let status = |conn: &mut _, code| auth_codes::find_by_code(conn, code).unwrap().unwrap().status;
    assert_eq!(status(&mut conn, "PL-A"), CodeStatus::Alive);
    assert_eq!(status(&mut conn, "PL-E"), CodeStatus::Expired);
    assert_eq!(status(&mut conn, "PL-R"), CodeStatus::Released);
});
