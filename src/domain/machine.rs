//! What every client-API call is about: an authorization code and the machine asking, as
//! checked values.

use std::fmt;

use crate::domain::fingerprint::Fingerprint;

/// Longest authorization code (koogallery.md §3.2.1).
pub const MAX_CODE_LEN: usize = 64;

/// An authorization code as a client sends it: 1–64 printable ASCII characters, no spaces.
/// Its `Debug` shows only a hint: the code is the client's credential.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthorizationCode(String);

impl AuthorizationCode {
    /// Checks a raw code; the error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_CODE_LEN {
            return Err(format!("must be 1 to {MAX_CODE_LEN} characters long"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII characters without spaces".to_owned());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The code. Treat it as a secret: logs get [`crate::telemetry::code_hint`].
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The loggable hint of the code.
    pub fn hint(&self) -> String {
        crate::telemetry::code_hint(&self.0)
    }
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorizationCode({})", self.hint())
    }
}

/// One machine's request, checked: what every client-API call is about.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The authorization code.
    pub code: AuthorizationCode,
    /// The machine's normalised fingerprint.
    pub fingerprint: Fingerprint,
    /// What the machine calls itself (activation only; informational).
    pub hostname: Option<String>,
}
