//! The status codes of `client.md` §3, shared by the Rust API, the C API and the CLI's exit codes.

use std::ffi::CStr;
use std::fmt;

/// What a call found out, as `client.md` §3 numbers it. The values are part of the C ABI and the
/// command line's exit codes: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    /// A verified license for this machine, within its validity.
    Ok = 0,
    /// As [`Status::Ok`], but a check-in is due and the server has not answered since; the
    /// software may run.
    Grace = 1,
    /// Past `expires_at`, or the server says `EXPIRED`.
    Expired = 2,
    /// The server says `FROZEN`.
    Frozen = 3,
    /// The server says `RELEASED`.
    Released = 4,
    /// The server says `REVOKED`.
    Revoked = 5,
    /// No license stored, or the server says `NOT_ACTIVATED`.
    NotActivated = 6,
    /// The stored license belongs to another machine.
    FingerprintMismatch = 7,
    /// A check-in has been due for more than `grace_days` without a signed answer.
    GraceOver = 8,
    /// The clock is earlier, by more than `clock_tolerance_s`, than a time already seen.
    ClockTampered = 9,
    /// Activation refused: every seat is taken.
    SeatLimitReached = 10,
    /// Activation refused: no such code.
    CodeNotFound = 11,
    /// Activation refused: the buyer must claim the code first.
    CodeNotClaimed = 12,
    /// The server answered 429.
    RateLimited = 13,
    /// The server could not be reached, or its answer failed verification; nothing changed.
    Network = 14,
    /// A license file fails verification (signature, key, format).
    InvalidLicense = 15,
    /// A NULL or malformed argument, an unknown option.
    InvalidArgument = 16,
    /// The data directory cannot be read or written.
    Store = 17,
    /// Anything else (the server's 5xx included).
    Internal = 18,
}

impl Status {
    /// Every status, in numeric order.
    pub const fn all() -> [Status; 19] {
        [
            Status::Ok,
            Status::Grace,
            Status::Expired,
            Status::Frozen,
            Status::Released,
            Status::Revoked,
            Status::NotActivated,
            Status::FingerprintMismatch,
            Status::GraceOver,
            Status::ClockTampered,
            Status::SeatLimitReached,
            Status::CodeNotFound,
            Status::CodeNotClaimed,
            Status::RateLimited,
            Status::Network,
            Status::InvalidLicense,
            Status::InvalidArgument,
            Status::Store,
            Status::Internal,
        ]
    }

    /// The C name as a C string, for `kl_status_name`.
    pub const fn c_name(self) -> &'static CStr {
        match self {
            Status::Ok => c"KL_OK",
            Status::Grace => c"KL_GRACE",
            Status::Expired => c"KL_EXPIRED",
            Status::Frozen => c"KL_FROZEN",
            Status::Released => c"KL_RELEASED",
            Status::Revoked => c"KL_REVOKED",
            Status::NotActivated => c"KL_NOT_ACTIVATED",
            Status::FingerprintMismatch => c"KL_FINGERPRINT_MISMATCH",
            Status::GraceOver => c"KL_GRACE_OVER",
            Status::ClockTampered => c"KL_CLOCK_TAMPERED",
            Status::SeatLimitReached => c"KL_SEAT_LIMIT_REACHED",
            Status::CodeNotFound => c"KL_CODE_NOT_FOUND",
            Status::CodeNotClaimed => c"KL_CODE_NOT_CLAIMED",
            Status::RateLimited => c"KL_RATE_LIMITED",
            Status::Network => c"KL_NETWORK",
            Status::InvalidLicense => c"KL_INVALID_LICENSE",
            Status::InvalidArgument => c"KL_INVALID_ARGUMENT",
            Status::Store => c"KL_STORE",
            Status::Internal => c"KL_INTERNAL",
        }
    }

    /// The C name, `KL_OK`, `KL_GRACE`, ...
    pub fn name(self) -> &'static str {
        self.c_name().to_str().unwrap_or_default()
    }

    /// The numeric value of `client.md` §3.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The status with this numeric value.
    pub fn from_code(code: i32) -> Option<Status> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Status::all().get(i).copied())
    }

    /// Whether the software may run: [`Status::Ok`] or [`Status::Grace`].
    pub const fn may_run(self) -> bool {
        matches!(self, Status::Ok | Status::Grace)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_names_follow_the_contract() {
        for (i, status) in Status::all().iter().enumerate() {
            assert_eq!(status.code(), i as i32);
            assert_eq!(Status::from_code(i as i32), Some(*status));
            assert!(status.name().starts_with("KL_"));
        }
        assert_eq!(Status::ClockTampered.code(), 9);
        assert_eq!(Status::Internal.name(), "KL_INTERNAL");
        assert_eq!(Status::from_code(19), None);
        assert_eq!(Status::from_code(-1), None);
    }
}

/// A license verdict ([`Status::Ok`] to [`Status::ClockTampered`]) and why, for anything but
/// [`Status::Ok`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    status: Status,
    reason: String,
}

impl Verdict {
    /// [`Status::Ok`], nothing to say.
    pub fn ok() -> Self {
        Self::new(Status::Ok, "")
    }

    pub(crate) fn new(status: Status, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// One line saying why (empty for [`Status::Ok`]).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether the software may run ([`Status::Ok`] or [`Status::Grace`]).
    pub fn may_run(&self) -> bool {
        self.status.may_run()
    }
}
