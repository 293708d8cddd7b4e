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
/// `malloc_trim` (libpq allocates with malloc; SQLite too when [`route_sqlite_allocations`]
/// came too late), which walks and briefly locks every arena, so it is called only after a
/// pause: here, and by the SQLite writer after 5 s without writes.
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

/// Has SQLite allocate through mimalloc instead of glibc's malloc: its page caches, statements
/// and statement journals are most of the writer's allocations (glibc's malloc and free were
/// about 7 % of the writer's time in first activations), and mimalloc returns their pages on
/// [`trim_allocator`] too. To be called before SQLite is first used (first thing in `main`);
/// later, SQLite refuses the change and keeps its default, which is only slower. Returns
/// whether SQLite took it.
#[cfg(feature = "sqlite")]
#[expect(
    unsafe_code,
    reason = "sqlite3_config and the mimalloc functions are C functions"
)]
pub fn route_sqlite_allocations() -> bool {
    use libsqlite3_sys as sqlite;
    use std::ffi::{c_int, c_void};

    // SAFETY (all six): SQLite calls these as its allocator. It never passes a negative size,
    // frees and resizes only what they allocated, and asks the size of such memory or NULL;
    // mimalloc's functions accept any pointer they returned, NULL included, from any thread,
    // and align to 16 bytes (SQLite needs 8).
    unsafe extern "C" fn allocate(size: c_int) -> *mut c_void {
        unsafe { libmimalloc_sys::mi_malloc(usize::try_from(size).unwrap_or(0)) }
    }
    unsafe extern "C" fn free(memory: *mut c_void) {
        unsafe { libmimalloc_sys::mi_free(memory) }
    }
    unsafe extern "C" fn reallocate(memory: *mut c_void, size: c_int) -> *mut c_void {
        unsafe { libmimalloc_sys::mi_realloc(memory, usize::try_from(size).unwrap_or(0)) }
    }
    unsafe extern "C" fn size_of(memory: *mut c_void) -> c_int {
        let size = unsafe { libmimalloc_sys::mi_usable_size(memory) };
        c_int::try_from(size).unwrap_or(c_int::MAX)
    }
    unsafe extern "C" fn round_up(size: c_int) -> c_int {
        let good = unsafe { libmimalloc_sys::mi_good_size(usize::try_from(size).unwrap_or(0)) };
        c_int::try_from(good).unwrap_or(size)
    }
    unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        sqlite::SQLITE_OK
    }
    unsafe extern "C" fn shutdown(_: *mut c_void) {}

    let methods = sqlite::sqlite3_mem_methods {
        xMalloc: Some(allocate),
        xFree: Some(free),
        xRealloc: Some(reallocate),
        xSize: Some(size_of),
        xRoundup: Some(round_up),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to the methods and copies them; before
    // sqlite3_initialize it has no other precondition, after it returns SQLITE_MISUSE.
    let status = unsafe {
        sqlite::sqlite3_config(sqlite::SQLITE_CONFIG_MALLOC, std::ptr::from_ref(&methods))
    };
    status == sqlite::SQLITE_OK
}
