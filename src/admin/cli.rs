//! `koolicense admin ...`: what an operator with shell access does without a token.

use clap::Subcommand;

use super::auth::{Caller, Role};
use super::common::Reason;
use super::tokens::{self, IssuedToken};
use crate::config::Settings;
use crate::db::DbConn;
use crate::startup;

/// The reason written to the audit log for tokens made on the command line.
const CLI_REASON: &str = "created with `koolicense admin create-token`";

/// Admin commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin API token; it is printed once, alone on the last line (only its hash is
    /// stored).
    CreateToken {
        /// Who will hold the token; the audit log names changes after it.
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_enum)]
        role: Role,
    },
}

/// Runs an admin command; the `Ok` value is the exit code.
pub fn run(settings: &Settings, command: &AdminCommand) -> anyhow::Result<i32> {
    match command {
        AdminCommand::CreateToken { name, role } => {
            let pool = startup::open_database(settings)?;
            let mut conn = pool.get()?;
            let issued = create_token(&mut conn, name, *role)?;
            println!(
                "Created {} token {:?} (id {}). It is shown once and stored only as a hash;",
                issued.row.role, issued.row.name, issued.row.id
            );
            println!("send it as `Authorization: Bearer TOKEN`:");
            // Alone on the last line, so scripts can take it with `tail -n 1`.
            println!("{}", issued.token);
            Ok(0)
        }
    }
}

/// Creates a token as the command line does (audit actor `cli`).
pub fn create_token(conn: &mut DbConn, name: &str, role: Role) -> anyhow::Result<IssuedToken> {
    let reason = Reason::parse(CLI_REASON)?;
    Ok(tokens::issue(conn, &Caller::cli(), name, role, &reason)?)
}
