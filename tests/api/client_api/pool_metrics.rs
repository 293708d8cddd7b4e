//! `/metrics` says whether the pool is too small: how long database work waited for a
//! connection next to how long it then held one (`koolicense_db_pool_{wait,held}_seconds`).

use super::{machine, sample, start};
use crate::helpers::Backend;

/// A histogram's `_count` in the exposition, 0 when absent.
fn count(metrics: &str, name: &str) -> u64 {
    sample(metrics, &format!("{name}_count"))
}

#[actix_web::test]
async fn pool_waits_and_holds_are_exported_per_checkout() {
    // PostgreSQL: its writes check a connection out of the pool (SQLite's go to its writer).
    let client = start(Backend::Postgres).await;
    let before = client.app.get("/metrics").await.text().await.unwrap();
    client.add_code("PLPOOLMETRIC01", 1).await;
    let first = client.activate("PLPOOLMETRIC01", &machine(1)).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let after = client.app.get("/metrics").await.text().await.unwrap();
    for name in [
        "koolicense_db_pool_wait_seconds",
        "koolicense_db_pool_held_seconds",
    ] {
        assert!(
            after.contains(&format!("# TYPE {name} histogram")),
            "{after}"
        );
        // The binding's transaction and the journal row of the KooGallery call, at least.
        assert!(
            count(&after, name) >= count(&before, name) + 2,
            "{name}: {after}"
        );
    }
}
