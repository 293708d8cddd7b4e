//! Durable SQLite commits through the server's own pool (`koolicense::db::build_pool`, so WAL
//! and `synchronous = FULL` apply): one row per commit is the ceiling of any path that must
//! commit before it answers; several rows per commit shows what group commit buys.
//!
//! `cargo bench --bench sqlite`; under `cargo test --all-targets` each runs once. The database
//! lives in a temporary directory on the same disk as `std::env::temp_dir()` (set `TMPDIR` to
//! measure another disk).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use koolicense::db::models::events::{self, EventKind, NewEvent, Subject};
use koolicense::db::{self, DatabaseUrl, DbConn, Pool};
use serde_json::json;

fn open(dir: &std::path::Path) -> Option<Pool> {
    let path = dir.join("bench.db");
    let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).ok()?;
    let pool = db::build_pool(&url, 1, Duration::from_secs(10)).ok()?;
    let mut conn = pool.get().ok()?;
    db::run_migrations(&mut conn).ok()?;
    drop(conn);
    Some(pool)
}

fn rows(conn: &mut DbConn, n: usize) -> Result<(), diesel::result::Error> {
    let detail = json!({"bench": true});
    conn.write_tx(|c| {
        for _ in 0..n {
            events::insert(
                c,
                &NewEvent::new(Subject::Code, "subject", EventKind::Activated, &detail),
            )?;
        }
        Ok(())
    })
}

fn commits(c: &mut Criterion) {
    let dir = tempfile::tempdir().ok();
    let Some(pool) = dir.as_ref().and_then(|d| open(d.path())) else {
        eprintln!("cannot open an SQLite database in a temporary directory; skipping");
        return;
    };
    let Ok(mut conn) = pool.get() else {
        eprintln!("cannot get a connection; skipping");
        return;
    };
    let mut group = c.benchmark_group("sqlite");
    // An fsync is a millisecond or so: fewer samples keep the run short.
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    for n in [1_usize, 16] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("durable_commit_{n}_rows"), |b| {
            b.iter(|| rows(&mut conn, n));
        });
    }
    group.finish();
}

criterion_group!(benches, commits);
criterion_main!(benches);
