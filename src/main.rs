//! The `koolicense` binary: parse the command line and run it.

use clap::Parser;

/// mimalloc rather than glibc's malloc: a first activation spent a sixth of its CPU in malloc and
/// its arena locks (buffers allocated on the HTTP workers, freed on the database writer); with
/// mimalloc, 20–30 % less CPU (README, Performance). Its build options: `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() {
    // Before anything opens a database; too late, SQLite only keeps glibc's malloc.
    #[cfg(feature = "sqlite")]
    let _ = koolicense::memory::route_sqlite_allocations();
    let cli = koolicense::cli::Cli::parse();
    let code = match koolicense::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
