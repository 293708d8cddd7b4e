//! The SDK's error: a [`Status`] that is not a license verdict, with a one-line reason.

use std::fmt;

use crate::Status;

/// Why a call could not give a verdict: its [`Status`] (never [`Status::Ok`]) and one line
/// saying why, fit for a log or a support ticket (no code, fingerprint or key in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    /// An error with this status and reason; control characters become spaces so the reason
    /// stays on one line.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        let message = message
            .into()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        Self { status, message }
    }

    /// The status the C API returns for this error.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The one-line reason.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn store(message: impl fmt::Display) -> Self {
        Self::new(Status::Store, format!("data directory: {message}"))
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Status::InvalidArgument, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// Results of the SDK: `Ok` carries a license verdict, `Err` anything else.
pub type Result<T, E = Error> = std::result::Result<T, E>;
