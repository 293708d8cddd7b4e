//! How many connections the server accepts at once: `KOOLICENSE_MAX_CONNECTIONS`, or what the
//! file-descriptor limit (`RLIMIT_NOFILE`) leaves once everything else has its descriptors.
//!
//! The cap holds for the whole process, whatever the number of workers (see [`super::server`]).
//! A connection over the cap is not refused: it waits in the listen backlog, costing no
//! descriptor, until an open one closes. Before that point, past [`ConnectionBudget::shed_above`],
//! new connections shed the ones that have waited longest on their clients.

use crate::config::Settings;

/// Descriptors the process holds besides connections and the database: standard streams and
/// log files, the listen socket, each runtime's poller and waker, key files being read.
const BASE_DESCRIPTORS: u64 = 64;
/// Per database connection: SQLite opens the database, its WAL and (shared) its index file;
/// PostgreSQL one socket.
const DESCRIPTORS_PER_DB_CONNECTION: u64 = 3;
/// Database connections outside the pool: the readers (8 slots, and a few more when all
/// are busy) and SQLite's group-commit writer.
const DB_CONNECTIONS_OUTSIDE_POOL: u64 = 16;
/// The cap when the descriptor limit is unlimited and nothing is set (actix's default for one
/// worker).
const UNLIMITED_DEFAULT: usize = 25_600;

/// The connection cap decided at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// Connections open at once, all workers together.
    pub total: usize,
    /// What the descriptor limit allows, when there is one.
    pub fd_allowance: Option<usize>,
    /// Why the cap is not what was asked for, to be logged as a warning.
    pub warning: Option<String>,
}

/// Idle connections to KooGallery's two hosts (primary and fallback), kept between calls.
const IDLE_OUTBOUND: u64 = 2 * crate::koogallery::client::IDLE_CONNECTIONS_PER_HOST as u64;

/// Connections a descriptor limit allows: the limit less the reserve, halved because each
/// connection may hold an outbound connection to KooGallery while its request is served.
pub fn fd_allowance(fd_limit: u64, db_pool_size: u32) -> usize {
    let reserve = BASE_DESCRIPTORS
        + IDLE_OUTBOUND
        + DESCRIPTORS_PER_DB_CONNECTION * (u64::from(db_pool_size) + DB_CONNECTIONS_OUTSIDE_POOL);
    usize::try_from(fd_limit.saturating_sub(reserve) / 2).unwrap_or(usize::MAX)
}

/// The process's soft descriptor limit; `None` when unlimited.
pub fn current_fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

impl ConnectionBudget {
    /// The cap for `settings` under a descriptor limit of `fd_limit` (`None`: unlimited).
    pub fn decide(settings: &Settings, fd_limit: Option<u64>) -> Self {
        let allowance = fd_limit.map(|limit| fd_allowance(limit, settings.database.pool_size));
        let mut warning = None;
        let wanted = match (settings.server.max_connections, allowance) {
            (Some(asked), Some(allowed)) if asked > allowed => {
                warning = Some(format!(
                    "KOOLICENSE_MAX_CONNECTIONS={asked} is more than the file-descriptor limit \
                     ({} open files) leaves for connections ({allowed}); using {allowed}. Raise \
                     the limit (`ulimit -n`, systemd `LimitNOFILE=`) to accept more",
                    fd_limit.unwrap_or_default(),
                ));
                allowed
            }
            (Some(asked), _) => asked,
            (None, Some(allowed)) => allowed,
            (None, None) => UNLIMITED_DEFAULT,
        };
        let total = if wanted == 0 {
            warning = Some(format!(
                "the file-descriptor limit ({} open files) leaves nothing for connections once \
                 the database and outbound calls have theirs; accepting one at a time. Raise \
                 the limit (`ulimit -n`, systemd `LimitNOFILE=`)",
                fd_limit.unwrap_or_default(),
            ));
            1
        } else {
            wanted
        };
        Self {
            total,
            fd_allowance: allowance,
            warning,
        }
    }

    /// Past this many open connections, each new one sheds the connection that has waited
    /// longest on its client: a tenth of the cap stays free for newcomers.
    pub fn shed_above(&self) -> usize {
        self.total - (self.total / 10).max(1).min(self.total)
    }
}

#[cfg(test)]
mod tests;
