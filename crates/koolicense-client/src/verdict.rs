//! The offline decision of `kl_check` (`client.md` §4), as a pure function of what was read and
//! verified. Order of checks: the clock (a clock turned back wins over everything after it),
//! then the license file (signature, key, fingerprint), then the last verified server status,
//! then the validity window, then the grace rules.

use chrono::{DateTime, Utc};
use koolicense_core::license::{LicensePayload, VerifyError};

use crate::{Options, Status};

/// The last verified server status, as the check-in answer names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSays {
    /// `VALID` (check-in) or `ACTIVE` (activation).
    Valid,
    /// A verdict that stops the software.
    Refused(Status),
}

impl ServerSays {
    /// The status of a check-in (`VALID`, `FROZEN`, ...) or activation (`ACTIVE`) answer;
    /// `None` for a word the SDK does not know.
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "VALID" | "ACTIVE" => Self::Valid,
            "EXPIRED" => Self::Refused(Status::Expired),
            "FROZEN" => Self::Refused(Status::Frozen),
            "RELEASED" => Self::Refused(Status::Released),
            "REVOKED" => Self::Refused(Status::Revoked),
            "NOT_ACTIVATED" => Self::Refused(Status::NotActivated),
            "FINGERPRINT_MISMATCH" => Self::Refused(Status::FingerprintMismatch),
            _ => return None,
        })
    }
}

/// What the decision looks at.
#[derive(Debug)]
pub struct Facts<'a> {
    /// The local clock now.
    pub now: DateTime<Utc>,
    /// The client's options.
    pub options: &'a Options,
    /// No server: the license's own status is the whole answer (air-gapped machines).
    pub offline: bool,
    /// The stored license, checked for signature, key and fingerprint (not dates); `None` when
    /// there is none.
    pub license: Option<&'a Result<LicensePayload, VerifyError>>,
    /// The last verified answer of the server for this license: its status and time.
    pub answer: Option<(ServerSays, DateTime<Utc>)>,
    /// The latest local clock reading remembered (unsigned).
    pub seen_at: Option<DateTime<Utc>>,
}

/// The decision: a status, why, and whether a check-in is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The status.
    pub status: Status,
    /// Why, for anything but [`Status::Ok`].
    pub reason: String,
    /// A check-in is due: the last verified server time is `check_in_hours` old, or the license
    /// has run out an hour after it (a renewal may be waiting on the server).
    pub due: bool,
}

/// The verdict and a reason for anything but [`Status::Ok`].
pub fn decide(facts: &Facts<'_>) -> Decision {
    let (status, reason) = verdict(facts);
    let due = !facts.offline
        && status != Status::ClockTampered
        && facts.license.is_some_and(|l| {
            l.as_ref().is_ok_and(|license| {
                let last = last_verified(facts, license);
                let expired = license.expires_at.is_some_and(|end| facts.now > end);
                facts.now >= last + facts.options.check_in_interval()
                    || (expired && facts.now >= last + chrono::TimeDelta::hours(1))
            })
        });
    Decision {
        status,
        reason,
        due,
    }
}

/// The latest signed time this license's validity counts from: the last verified answer, or the
/// license's own `issued_at` (a license installed offline).
fn last_verified(facts: &Facts<'_>, license: &LicensePayload) -> DateTime<Utc> {
    facts
        .answer
        .map_or(license.issued_at, |(_, at)| at.max(license.issued_at))
}

fn verdict(facts: &Facts<'_>) -> (Status, String) {
    let license = facts.license.and_then(|l| l.as_ref().ok());
    let latest_seen = [
        facts.seen_at,
        facts.answer.map(|(_, at)| at),
        license.map(|l| l.issued_at),
    ]
    .into_iter()
    .flatten()
    .max();
    if let Some(latest) = latest_seen
        && facts.now < latest - facts.options.tolerance()
    {
        return (
            Status::ClockTampered,
            format!("the clock is behind a time already seen ({latest})"),
        );
    }
    let license = match facts.license {
        None => return (Status::NotActivated, "no license is stored".into()),
        Some(Err(VerifyError::FingerprintMismatch)) => {
            return (
                Status::FingerprintMismatch,
                "the stored license belongs to another machine".into(),
            );
        }
        Some(Err(e)) => return (Status::InvalidLicense, e.to_string()),
        Some(Ok(license)) => license,
    };
    if let Some((ServerSays::Refused(status), at)) = facts.answer {
        return (status, format!("the server said {status} at {at}"));
    }
    if let Some(end) = license.expires_at.filter(|end| facts.now > *end) {
        return (Status::Expired, format!("the license expired at {end}"));
    }
    let start = license.not_before - facts.options.tolerance();
    if facts.now < start {
        return (
            Status::InvalidLicense,
            format!("the license is not valid before {}", license.not_before),
        );
    }
    if facts.offline {
        return (Status::Ok, String::new());
    }
    let due = last_verified(facts, license) + facts.options.check_in_interval();
    if facts.now < due {
        return (Status::Ok, String::new());
    }
    let over = due + facts.options.grace();
    if facts.now < over {
        (
            Status::Grace,
            format!("a check-in is due since {due}; grace ends at {over}"),
        )
    } else {
        (
            Status::GraceOver,
            format!("a check-in has been due since {due}; grace ended at {over}"),
        )
    }
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    clippy::unnecessary_wraps,
    reason = "tests fail loudly"
)]
#[path = "verdict_tests.rs"]
mod tests;
