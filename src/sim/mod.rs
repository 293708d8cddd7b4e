//! `koolicense sim`: a local KooGallery (placeholder until the simulator lands).

/// What `koolicense sim` can do.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Serve KooGallery's open APIs locally.
    Serve,
}

/// Runs a `sim` command; the `Ok` value is the exit code.
pub async fn run(_cmd: &SimCommand) -> anyhow::Result<i32> {
    anyhow::bail!("the simulator is not built yet")
}
