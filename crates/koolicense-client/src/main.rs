//! `koolicense-client`: the SDK on the command line (`client.md` §5), for scripts and support.
//! Each command prints one line (`KL_OK ...`, or the status and the reason) and exits with the
//! status code of `client.md` §3.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use koolicense_client::{Client, Error, Status, Verdict, offline_activate};

#[derive(Debug, Parser)]
#[command(
    name = "koolicense-client",
    version,
    about = "koolicense client SDK on the command line"
)]
struct Cli {
    /// The license server (omit on an air-gapped machine).
    #[arg(long, global = true)]
    server: Option<String>,
    /// The SDK's data directory (default: the per-user data directory, `koolicense/`).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The `GET /v1/keys` document to trust (default: fetched once and pinned).
    #[arg(long, global = true)]
    public_keys: Option<PathBuf>,
    /// A fingerprint to use instead of this machine's.
    #[arg(long, global = true)]
    fingerprint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints this machine's fingerprint (`MAC|disk|board|cpu`).
    Fingerprint,
    /// Activates an authorization code on this machine.
    Activate { code: String },
    /// The license's status (`kl_is_genuine`: checks in when due).
    Status,
    /// Checks in with the server now.
    CheckIn,
    /// Frees this machine's seat and forgets the license.
    Deactivate,
    /// Writes the request file of an air-gapped activation.
    OfflineRequest {
        code: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// On a connected machine: turns a request file into a license file.
    OfflineActivate {
        #[arg(long)]
        request: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Installs a license file made by `offline-activate`.
    Install { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return exit(Status::InvalidArgument);
        }
    };
    if matches!(cli.command, Command::Fingerprint) {
        return print_fingerprint(cli.fingerprint.as_deref());
    }
    let (status, line) = match run(&cli) {
        Ok((verdict, detail)) => {
            let reason = if verdict.reason().is_empty() {
                detail
            } else {
                verdict.reason().to_owned()
            };
            (verdict.status(), reason)
        }
        Err(error) => (error.status(), error.message().to_owned()),
    };
    if line.is_empty() {
        println!("{}", status.name());
    } else {
        println!("{} {line}", status.name());
    }
    exit(status)
}

/// The fingerprint alone on its line, exactly as `koolicense fingerprint` prints it.
fn print_fingerprint(given: Option<&str>) -> ExitCode {
    let fingerprint = match given {
        Some(given) => koolicense_client::Fingerprint::parse(given)
            .ok()
            .map(|fp| fp.as_str().to_owned()),
        None => koolicense_client::this_machine().map(|fp| fp.as_str().to_owned()),
    };
    if let Some(fingerprint) = fingerprint {
        println!("{fingerprint}");
        ExitCode::SUCCESS
    } else {
        println!("KL_INVALID_ARGUMENT cannot read this machine's fingerprint");
        exit(Status::InvalidArgument)
    }
}

fn exit(status: Status) -> ExitCode {
    ExitCode::from(u8::try_from(status.code()).unwrap_or(u8::MAX))
}

fn run(cli: &Cli) -> Result<(Verdict, String), Error> {
    let keys = cli
        .public_keys
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).map_err(|e| {
                Error::new(
                    Status::InvalidArgument,
                    format!("cannot read {}: {e}", path.display()),
                )
            })
        })
        .transpose()?;
    if let Command::OfflineActivate { request, out } = &cli.command {
        return offline_activate_files(cli.server.as_deref(), keys.as_deref(), request, out);
    }
    let client = open(cli, keys)?;
    let verdict = match &cli.command {
        Command::Activate { code } => client.activate(code)?,
        Command::Status => client.is_genuine()?,
        Command::CheckIn => client.check_in()?,
        Command::Deactivate => client.deactivate()?,
        Command::OfflineRequest { code, out } => {
            client.offline_request(code, out)?;
            return Ok((
                Verdict::ok(),
                format!("request written to {}", out.display()),
            ));
        }
        Command::Install { file } => client.offline_install(file)?,
        Command::Fingerprint | Command::OfflineActivate { .. } => Verdict::ok(),
    };
    let detail = match client.license() {
        Ok(Some(license)) => format!(
            "license {} revision {} expires {}",
            license.license_id,
            license.revision,
            license
                .expires_at
                .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
        ),
        _ => String::new(),
    };
    Ok((verdict, detail))
}

/// `offline-activate`: a request file in, a license file out; no data directory involved.
fn offline_activate_files(
    server: Option<&str>,
    keys: Option<&str>,
    request: &Path,
    out: &Path,
) -> Result<(Verdict, String), Error> {
    let server = server
        .ok_or_else(|| Error::new(Status::InvalidArgument, "offline-activate needs --server"))?;
    let text = std::fs::read_to_string(request).map_err(|e| {
        Error::new(
            Status::InvalidArgument,
            format!("cannot read {}: {e}", request.display()),
        )
    })?;
    let license = offline_activate(server, &text, keys, 5000)?;
    std::fs::write(out, &license).map_err(|e| {
        Error::new(
            Status::Store,
            format!("cannot write {}: {e}", out.display()),
        )
    })?;
    Ok((
        Verdict::ok(),
        format!("license written to {}", out.display()),
    ))
}

/// The per-user data directory of the XDG base-directory rules: `$XDG_DATA_HOME`, else
/// `~/.local/share`. Only Linux is supported (client.md §1), so no platform table is needed.
fn user_data_dir() -> Option<PathBuf> {
    let absolute =
        |value: std::ffi::OsString| Some(PathBuf::from(value)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_DATA_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|home| home.join(".local/share"))
        })
}

fn open(cli: &Cli, keys: Option<String>) -> Result<Client, Error> {
    let data_dir = match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => user_data_dir()
            .map(|dir| dir.join("koolicense"))
            .ok_or_else(|| {
                Error::new(
                    Status::InvalidArgument,
                    "no per-user data directory: pass --data-dir",
                )
            })?,
    };
    let mut builder = Client::builder(data_dir);
    if let Some(server) = &cli.server {
        builder = builder.server(server);
    }
    if let Some(keys) = keys {
        builder = builder.public_keys(keys);
    }
    if let Some(fingerprint) = &cli.fingerprint {
        builder = builder.fingerprint(fingerprint);
    }
    builder.open()
}
