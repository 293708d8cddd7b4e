//! PostgreSQL closing the server's connections (a restart, a failover, an idle-connection
//! reaper): the pool does not ping at every checkout, so the first request to find a dead
//! connection is answered 503 (retry), never 500; from then on checkouts ping for a while, so
//! no later request gets one of the other dead connections.

use diesel::RunQueryDsl;

use super::{Reply, machine, start};
use crate::helpers::{Backend, postgres_admin_url};

#[actix_web::test]
async fn closed_connections_cost_at_most_one_retryable_answer() {
    let client = start(Backend::Postgres).await;
    client.add_code("PLRESTART00001", 1).await;
    let fingerprint = machine(1);
    let first = client.activate("PLRESTART00001", &fingerprint).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    // Concurrent requests, so the pool holds several idle connections.
    let warm = (0..8).map(|_| client.activate("PLRESTART00001", &fingerprint));
    for answer in futures_util::future::join_all(warm).await {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }

    let database = client.app.db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = koolicense::db::establish_postgres(&postgres_admin_url()).unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    ))
    .execute(&mut admin)
    .unwrap();

    // One request after another: the first to find a dead connection is answered 503 (the
    // background worker may find out first, then none is).
    let mut retryable = 0;
    for _ in 0..10 {
        let again = client.activate("PLRESTART00001", &fingerprint).await;
        retryable += usize::from(retryable_answer(&again, &first));
    }
    assert!(
        retryable <= 1,
        "{retryable} answers found a dead connection"
    );
    // Then concurrent rounds take several of the pool's connections at once: the dead ones left
    // are pinged and dropped at checkout, none reaches a request.
    for _ in 0..3 {
        let round = (0..8).map(|_| client.activate("PLRESTART00001", &fingerprint));
        for again in futures_util::future::join_all(round).await {
            assert!(
                !retryable_answer(&again, &first),
                "a dead connection reached a request"
            );
        }
    }
}

/// Whether `again` is the retryable 503; anything but that or the first license fails the test.
fn retryable_answer(again: &Reply, first: &Reply) -> bool {
    match again.status {
        200 => {
            assert_eq!(again.license(), first.license());
            false
        }
        503 => {
            assert_eq!(again.code(), "UNAVAILABLE", "{:?}", again.body);
            true
        }
        other => panic!(
            "answered {other} after the connections closed: {:?}",
            again.body
        ),
    }
}
