//! A code's first binding writes every row at once (one statement on PostgreSQL, shared with the
//! first bindings written at the same moment): the same rows as a binding under the code's lock,
//! and, when a callback recorded the code first, the code's own row is bound instead; two nodes
//! recording one new code at once bind it once; one binding the database refuses fails no
//! other written beside it.

use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use koolicense::db::models::events::{self, EventKind, Subject};
use koolicense::db::models::licenses;
use koolicense::db::models::marketplace_calls::{self, CallFilter};
use serde_json::{Value, json};

use super::remembered::{on_node, second_node};
use super::{Client, compact_in, machine, rfc3339_of, start};
use crate::helpers::Backend;
use crate::with_marketplace;

/// The kinds and details of the events about one subject, oldest first.
fn events_of(client: &Client, subject: Subject, id: &str) -> Vec<(EventKind, Value)> {
    events::for_subject(&mut client.app.db(), subject, id)
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, serde_json::from_str(&e.detail).unwrap()))
        .collect()
}

with_marketplace!(
    a_first_binding_stores_the_code_journal_usage_license_and_events,
    |client: Client| async move {
        let expire = client.add_code("PLFIRSTROWS001", 3).await;
        let fp = machine(1);

        let answer = client.activate("PLFIRSTROWS001", &fp).await;

        assert_eq!(answer.status, 201, "{:?}", answer.body);
        assert_eq!(client.rows(), (1, 1, 1, 1));
        let code = client.code_row("PLFIRSTROWS001");
        assert!(code.activated && !code.frozen);
        assert_eq!(code.seats, 3);
        assert_eq!(
            code.code_hint,
            koolicense::telemetry::code_hint("PLFIRSTROWS001")
        );
        let expires = code
            .expires_at
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        assert_eq!(expires, Some(rfc3339_of(&expire)));
        assert_eq!(
            events_of(&client, Subject::Code, code.id.as_str()),
            vec![(EventKind::Activated, json!({"seats": 3, "via": "activate"}))]
        );

        // The license as answered is the one stored, with its first revision beside it.
        let license_id = answer.body["license_id"].as_str().unwrap();
        let stored = licenses::find(&mut client.app.db(), &license_id.into())
            .unwrap()
            .unwrap();
        assert_eq!(stored.file, answer.license());
        assert_eq!((stored.revision, stored.revoked), (1, false));
        let revisions = licenses::revisions(&mut client.app.db(), &license_id.into()).unwrap();
        assert_eq!(revisions.len(), 1);
        assert_eq!(
            (
                revisions[0].revision,
                revisions[0].reason.as_str(),
                revisions[0].file.as_str()
            ),
            (1, "activated", answer.license())
        );
        assert_eq!(revisions[0].expires_at, stored.expires_at);

        let binding = stored.activation_id.clone().unwrap();
        let sha = &stored.fingerprint_sha256;
        assert_eq!(
            events_of(&client, Subject::Activation, binding.as_str()),
            vec![(
                EventKind::Activated,
                json!({"code_id": code.id, "license_id": license_id, "fingerprint_sha256": sha})
            )]
        );
        let filter = CallFilter {
            direction: Some("outbound".into()),
            limit: 10,
            ..CallFilter::default()
        };
        let calls = marketplace_calls::list(&mut client.app.db(), &filter).unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].activity.as_str(), calls[0].result_code.as_str()),
            ("activate", "92020000")
        );

        // A repeat reads back exactly what the first answer said.
        let repeat = client.activate("PLFIRSTROWS001", &fp).await;
        assert_eq!(repeat.status, 200);
        assert_eq!(repeat.license(), answer.license());
        assert_eq!(repeat.body["license_id"], answer.body["license_id"]);
    }
);

with_marketplace!(
    a_code_a_callback_recorded_first_is_bound_on_that_row,
    |client: Client| async move {
        client.add_code("PLCALLBACK0001", 2).await;
        let renewal = json!({"activity": "refreshLicenseCode", "scene": "RENEWAL",
            "orderId": "CS-CB", "orderLineId": "CS-CB-1", "license": "PLCALLBACK0001",
            "expireTime": compact_in(400)});
        assert_eq!(client.app.callback(&renewal).await.code(), "000000");
        let recorded = client.code_row("PLCALLBACK0001");
        assert!(!recorded.activated);

        let answer = client.activate("PLCALLBACK0001", &machine(1)).await;

        assert_eq!(answer.status, 201, "{:?}", answer.body);
        let code = client.code_row("PLCALLBACK0001");
        assert_eq!(code.id, recorded.id);
        assert!(code.activated);
        assert_eq!(code.seats, 2);
        assert_eq!(client.rows(), (1, 1, 1, 1));
        assert_eq!(
            events_of(&client, Subject::Code, code.id.as_str())
                .into_iter()
                .filter(|(kind, _)| *kind == EventKind::Activated)
                .count(),
            1
        );
        assert_eq!(client.sim_calls("activate", "PLCALLBACK0001").await, 1);
        assert_eq!(
            client.activate("PLCALLBACK0001", &machine(1)).await.status,
            200
        );
    }
);

/// The statuses of `code` activated at the same moment on node `a` by `one` and on node `b` by
/// `other`, lowest first, and whether both answers carry the same license.
async fn at_once(
    client: &Client,
    (a, b): (&str, &str),
    code: &str,
    one: &str,
    other: &str,
) -> ([u16; 2], bool) {
    let (first, second) = tokio::join!(
        on_node(client, a, "/v1/activate", code, one),
        on_node(client, b, "/v1/activate", code, other),
    );
    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    let same = first.body["license"].is_string() && first.body["license"] == second.body["license"];
    (statuses, same)
}

#[actix_web::test]
async fn two_nodes_binding_a_new_code_at_the_same_moment_keep_its_seats_and_its_license() {
    // Each node asks KooGallery, and each tries to record the code's row: one statement wins,
    // the other node binds under the code's lock.
    let client = start(Backend::Postgres).await;
    let (a, b) = (client.app.address.clone(), second_node(&client));
    let (one, two, three) = (machine(1), machine(2), machine(3));
    let nodes = (a.as_str(), b.as_str());
    for n in 0..6 {
        let one_seat = format!("PLTWONODES{n:04}");
        client.add_code(&one_seat, 1).await;
        let (statuses, _) = at_once(&client, nodes, &one_seat, &one, &two).await;
        assert_eq!(statuses, [201, 409], "{one_seat}");
        assert_eq!(client.live(&one_seat), 1);

        let same_machine = format!("PLTWOSAME{n:04}");
        client.add_code(&same_machine, 2).await;
        let (statuses, same) = at_once(&client, nodes, &same_machine, &three, &three).await;
        assert_eq!(statuses, [200, 201], "{same_machine}");
        assert!(same, "{same_machine}: one license for the one machine");
        assert_eq!(client.live(&same_machine), 1);
    }
    let (codes, bindings, licenses, usage) = client.rows();
    assert_eq!((codes, bindings, licenses, usage), (12, 12, 12, 12));
}

with_marketplace!(
    new_codes_activated_at_the_same_moment_are_each_bound_once,
    |client: Client| async move {
        // Twenty new codes at once, every fourth asked for by two machines and having one seat:
        // the writes meet in shared statements (group commits on SQLite), the same code's twice.
        let codes: Vec<String> = (0..20).map(|n| format!("PLATONCE{n:04}")).collect();
        for (n, code) in codes.iter().enumerate() {
            client.add_code(code, if n % 4 == 0 { 1 } else { 2 }).await;
        }
        let asks: Vec<(usize, usize)> = (0..20)
            .map(|n| (n, 1))
            .chain((0..20).step_by(4).map(|n| (n, 2)))
            .collect();
        let machines: Vec<String> = (0..3).map(machine).collect();
        let answers = join_all(
            asks.iter()
                .map(|&(n, m)| client.activate(&codes[n], &machines[m])),
        )
        .await;

        for (n, code) in codes.iter().enumerate() {
            let mut statuses: Vec<u16> = asks
                .iter()
                .zip(&answers)
                .filter(|((asked, _), _)| *asked == n)
                .map(|(_, answer)| answer.status)
                .collect();
            statuses.sort_unstable();
            let expected: &[u16] = if n % 4 == 0 { &[201, 409] } else { &[201] };
            assert_eq!(statuses, expected, "{code}");
            assert_eq!(client.live(code), 1, "{code}");
        }
        assert_eq!(client.rows(), (20, 20, 20, 20));
        // Each license as answered is the one stored, and a repeat answers it again.
        for ((n, m), answer) in asks.iter().zip(&answers) {
            if answer.status == 201 {
                let stored = licenses::find(
                    &mut client.app.db(),
                    &answer.body["license_id"].as_str().unwrap().into(),
                )
                .unwrap()
                .unwrap();
                assert_eq!(stored.file, answer.license());
                let repeat = client.activate(&codes[*n], &machine(*m)).await;
                assert_eq!(repeat.status, 200);
                assert_eq!(repeat.license(), answer.license());
            }
        }
    }
);

/// A trigger that makes the database refuse the row of `code`, as a full disk or a broken
/// constraint would.
fn refuse_code(client: &Client, backend: Backend, code: &str) {
    let sql = match backend {
        Backend::Postgres => format!(
            "CREATE FUNCTION refuse_code() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse_code BEFORE INSERT ON auth_codes FOR EACH ROW \
             WHEN (NEW.code = '{code}') EXECUTE FUNCTION refuse_code();"
        ),
        Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_code BEFORE INSERT ON auth_codes \
             WHEN NEW.code = '{code}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        ),
    };
    client.app.db().batch_execute(&sql).unwrap();
}

#[actix_web::test]
async fn a_first_binding_the_database_refuses_fails_alone() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let client = start(backend).await;
        let codes: Vec<String> = (0..12).map(|n| format!("PLREFUSED{n:04}")).collect();
        for code in &codes {
            client.add_code(code, 1).await;
        }
        let (refused, others) = codes.split_last().unwrap();
        refuse_code(&client, backend, refused);
        // On PostgreSQL the events table is held until every write waits, so that the refused
        // binding, asked for last, is written in one statement with those queued before it.
        let mut held = (backend == Backend::Postgres).then(|| {
            let mut conn = client.app.db();
            conn.batch_execute("BEGIN; LOCK TABLE events IN EXCLUSIVE MODE;")
                .unwrap();
            conn
        });
        let fp = machine(1);

        let (answers, refused_answer, ()) = tokio::join!(
            join_all(others.iter().map(|code| client.activate(code, &fp))),
            async {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                client.activate(refused, &fp).await
            },
            async {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if let Some(conn) = held.as_mut() {
                    conn.batch_execute("COMMIT;").unwrap();
                }
            },
        );

        assert!(
            refused_answer.status >= 500,
            "{backend:?}: {:?}",
            refused_answer.body
        );
        assert_eq!(client.live(refused), 0);
        for (code, answer) in others.iter().zip(&answers) {
            assert_eq!(answer.status, 201, "{backend:?} {code}: {:?}", answer.body);
            assert_eq!(client.live(code), 1, "{code}");
        }
        assert_eq!(client.rows(), (11, 11, 11, 11), "{backend:?}");
    }
}
