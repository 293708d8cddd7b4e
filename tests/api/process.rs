//! `koolicense serve` as a child process, for tests that kill -9 a server or run several nodes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub url: String,
}

/// `koolicense` (or `program` running it, such as `faketime`) with no inherited `KOOLICENSE_*`
/// setting, so a test's environment is the only configuration the command sees.
pub fn clean_command(program: &str) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("KOOLICENSE_")) {
        command.env_remove(name);
    }
    command
}

/// The koolicense binary under test, as [`clean_command`].
pub fn koolicense_command() -> Command {
    clean_command(env!("CARGO_BIN_EXE_koolicense"))
}

/// A free local port (bound, then released, so the child can take it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ServerProcess {
    /// Starts `koolicense serve` on `port` with `env` (plus quiet defaults) and waits until ready.
    pub async fn start(port: u16, env: &[(&str, &str)], log: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_koolicense"));
        command.arg("serve");
        Self::start_command(command, port, env, log).await
    }

    /// As [`Self::start`], with at most `limit` open file descriptors (soft and hard).
    pub async fn start_with_fd_limit(
        port: u16,
        env: &[(&str, &str)],
        log: &Path,
        limit: u32,
    ) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" serve"))
            .arg(env!("CARGO_BIN_EXE_koolicense"));
        Self::start_command(command, port, env, log).await
    }

    async fn start_command(
        mut command: Command,
        port: u16,
        env: &[(&str, &str)],
        log: &Path,
    ) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        command
            .env("KOOLICENSE_LISTEN", format!("127.0.0.1:{port}"))
            .env("KOOLICENSE_HTTP_WORKERS", "2")
            .env("KOOLICENSE_DB_POOL_SIZE", "8")
            .env("KOOLICENSE_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut server = Self {
            child: command.spawn().unwrap(),
            url: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = http.get(format!("{}/readyz", self.url)).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "koolicense serve exited early"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("koolicense serve did not become ready");
    }

    /// The server's process id (for `/proc/<pid>/...`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits at most `within` for the process to exit; `None` if it did not.
    pub async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// SIGKILL: no shutdown, nothing flushed beyond what each commit made durable.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, as systemd and Kubernetes stop a service; returns at once.
    pub fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
    }

    /// The exit status once the process has exited, or `None` if it still runs after `bound`.
    pub async fn wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
