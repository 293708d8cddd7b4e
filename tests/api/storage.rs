//! The storage layer's read and write paths under concurrency: more threads reading at once
//! than there are SQLite reader slots, while the idle memory release runs.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use koolicense::db::models::orders::{self, OrderRecord};
use koolicense::db::{self, Pool, build_pool};

use crate::helpers::{Backend, TestDatabase, test_settings};

fn order(n: usize) -> OrderRecord {
    OrderRecord {
        order_id: format!("CS-STORE-{n}"),
        order_line_id: format!("CS-STORE-{n}-000001"),
        order_type: "NEW".to_owned(),
        product_id: Some("prod-1".to_owned()),
        quantity: Some(n as i64),
        charging_mode: Some("PERIOD".to_owned()),
        expires_at: None,
        raw: "{}".to_owned(),
        fetched_at: koolicense::db::models::now(),
    }
}

async fn read_order(pool: &Pool, n: usize) -> Option<OrderRecord> {
    let wanted = order(n);
    db::read(pool, move |conn| {
        orders::find(conn, &wanted.order_id, &wanted.order_line_id).map_err(anyhow::Error::from)
    })
    .await
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn concurrent_reads_see_every_write(backend: Backend) {
    const THREADS: usize = 12;
    const ORDERS: usize = 20;
    let db = TestDatabase::create(backend);
    let keys = tempfile::tempdir().unwrap();
    let settings = test_settings(&db, keys.path(), &[]);
    drop(koolicense::startup::open_database(&settings).unwrap());
    let pool = build_pool(&settings.database.url, 4, Duration::from_secs(30)).unwrap();
    runtime().block_on(async {
        for n in 0..ORDERS {
            let record = order(n);
            db::write(&pool, move |conn| {
                orders::upsert(conn, &record).map_err(anyhow::Error::from)
            })
            .await
            .unwrap();
        }
    });

    let start = Arc::new(Barrier::new(THREADS + 1));
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (pool, start) = (pool.clone(), Arc::clone(&start));
            scope.spawn(move || {
                start.wait();
                runtime().block_on(async {
                    for round in 0..50 {
                        let n = (t + round) % ORDERS;
                        let found = read_order(&pool, n).await.expect("a written order");
                        assert_eq!(found.quantity, Some(n as i64));
                    }
                    assert_eq!(read_order(&pool, ORDERS).await, None);
                });
            });
        }
        start.wait();
        for _ in 0..20 {
            pool.release_memory();
            koolicense::memory::trim_allocator();
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

#[test]
fn concurrent_reads_see_every_write_sqlite() {
    concurrent_reads_see_every_write(Backend::Sqlite);
}

#[test]
fn concurrent_reads_see_every_write_postgres() {
    concurrent_reads_see_every_write(Backend::Postgres);
}
