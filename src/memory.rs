//! Giving memory back to the operating system once a burst of load is over.
//!
//! An allocator keeps what a thread freed for reuse, and each SQLite connection keeps its page
//! cache full; left alone, a server stays at its peak RSS for as long as it runs. So when no
//! request has come in for a while after some did (probes and scrapes of the operations endpoints
//! do not count), the idle readers drop their page caches and the allocator returns its free
//! pages. Everything refills on the next request: the cost is a few cold reads, once per burst.
//! `koolicense_memory_releases_total` counts the releases.

use std::time::Duration;

use crate::db::Pool;
use crate::metrics::Metrics;

/// How long without a request counts as idle (checked at this period, so 1–2 periods).
const IDLE_PERIOD: Duration = Duration::from_secs(5);

/// Releases memory each time the server goes idle after answering requests. Runs until the
/// runtime stops.
pub async fn release_when_idle(pool: Pool, metrics: Metrics) {
    let mut ticks = tokio::time::interval(IDLE_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = metrics.served();
    let mut released = true;
    loop {
        ticks.tick().await;
        let served = metrics.served();
        if served != seen {
            (seen, released) = (served, false);
        } else if !released {
            released = true;
            let pool = pool.clone();
            // Shrinking caches and walking the arenas take milliseconds: not on an async worker.
            let _ = actix_web::web::block(move || {
                pool.release_memory();
                trim_allocator();
            })
            .await;
            metrics.count_memory_release();
        }
    }
}

/// Asks the allocators to return their free pages to the OS: mimalloc's (the binary's global
/// allocator, built to commit memory as it is used: `.cargo/config.toml`) and glibc's
/// `malloc_trim` (SQLite's page caches and libpq allocate with malloc), which walks and briefly
/// locks every arena, so it is called only after a pause: here, and by the SQLite writer after
/// 5 s without writes.
#[expect(unsafe_code, reason = "mi_collect and malloc_trim are C functions")]
pub fn trim_allocator() {
    // SAFETY: mi_collect takes a flag and has no preconditions (a no-op for an allocator that
    // holds nothing, as in a program whose global allocator is another).
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes a plain integer and has no preconditions; glibc serialises
        // it with every other allocator call.
        let released = unsafe { libc::malloc_trim(0) } != 0;
        tracing::debug!(released, "allocator trimmed");
    }
}
