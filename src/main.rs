//! The `koolicense` binary: parse the command line and run it.

use clap::Parser;

#[actix_web::main]
async fn main() {
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
