//! The client API's request and response bodies (api.md §4), and the edge where requests become
//! domain values: every field is checked here, and a bad one answers `400 INVALID_REQUEST` with
//! the field's name first in the message.
//!
//! Bodies are read as JSON values and picked apart field by field rather than derived with serde,
//! so that a wrong type (`"code": 5`) is reported with the field's name too.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::db::ids::LicenseId;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::validation::Status;
use crate::error::ApiError;

pub use crate::error::ErrorBody;

/// Longest `hostname`.
pub const MAX_HOSTNAME_LEN: usize = 255;

pub use crate::domain::machine::{AuthorizationCode, MAX_CODE_LEN, Machine};

/// `POST /v1/activate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ActivateRequest {
    /// The authorization code, e.g. `PL...` (1–64 printable ASCII characters, no spaces).
    pub code: String,
    /// `MAC|disk|board|cpu` (1–5120 bytes).
    pub fingerprint: String,
    /// Optional name of the machine, for support (at most 255 characters).
    pub hostname: Option<String>,
}

/// `POST /v1/check-in` and `POST /v1/deactivate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MachineRequest {
    /// The authorization code.
    pub code: String,
    /// `MAC|disk|board|cpu`, as sent when activating.
    pub fingerprint: String,
}

fn invalid(field: &str, problem: &str) -> ApiError {
    ApiError::InvalidRequest(format!("{field}: {problem}"))
}

/// The body as a JSON object.
fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::InvalidRequest("the body must be a JSON object".into()))
}

/// A string field; `None` when absent or null.
fn string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn required(obj: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    string(obj, field)?.ok_or_else(|| invalid(field, "is required"))
}

impl ActivateRequest {
    /// Picks the fields out of a JSON body; unknown fields are ignored.
    pub fn from_json(body: &Value) -> Result<Self, ApiError> {
        let obj = object(body)?;
        Ok(Self {
            code: required(obj, "code")?,
            fingerprint: required(obj, "fingerprint")?,
            hostname: string(obj, "hostname")?,
        })
    }
}

impl MachineRequest {
    /// Picks the fields out of a JSON body; unknown fields are ignored.
    pub fn from_json(body: &Value) -> Result<Self, ApiError> {
        let obj = object(body)?;
        Ok(Self {
            code: required(obj, "code")?,
            fingerprint: required(obj, "fingerprint")?,
        })
    }
}

fn machine(code: &str, fingerprint: &str, hostname: Option<String>) -> Result<Machine, ApiError> {
    let code = AuthorizationCode::parse(code).map_err(|e| invalid("code", &e))?;
    let fingerprint =
        Fingerprint::parse(fingerprint).map_err(|e| invalid("fingerprint", &e.to_string()))?;
    let hostname = match hostname.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) if name.chars().count() > MAX_HOSTNAME_LEN => {
            return Err(invalid("hostname", "must be at most 255 characters long"));
        }
        Some(name) if name.chars().any(char::is_control) => {
            return Err(invalid("hostname", "must not contain control characters"));
        }
        Some(name) => Some(name.to_owned()),
    };
    Ok(Machine {
        code,
        fingerprint,
        hostname,
    })
}

impl TryFrom<ActivateRequest> for Machine {
    type Error = ApiError;

    fn try_from(req: ActivateRequest) -> Result<Self, ApiError> {
        machine(&req.code, &req.fingerprint, req.hostname)
    }
}

impl TryFrom<MachineRequest> for Machine {
    type Error = ApiError;

    fn try_from(req: MachineRequest) -> Result<Self, ApiError> {
        machine(&req.code, &req.fingerprint, None)
    }
}

/// Seats of a code, as the admin API shows them too.
pub use crate::service::seats::Seats;

/// A successful activation (`201` new binding, `200` repeat or the same machine after a hardware
/// change).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivateResponse {
    /// The license file (armoured; api.md §5). A repeat returns the same bytes.
    pub license: String,
    /// The license's id; later revisions keep it.
    #[schema(value_type = String)]
    pub license_id: LicenseId,
    /// Always `ACTIVE`.
    #[schema(example = "ACTIVE")]
    pub status: &'static str,
    /// RFC 3339 UTC; `null` for a perpetual license.
    #[schema(example = "2027-11-23T00:00:00Z")]
    pub expires_at: Option<String>,
    /// Seats after this activation.
    pub seats: Seats,
}

/// The check-in verdict (`status`), a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckInStatus {
    Valid,
    Expired,
    Frozen,
    Released,
    Revoked,
    NotActivated,
    FingerprintMismatch,
}

impl From<Status> for CheckInStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Valid => Self::Valid,
            Status::Expired => Self::Expired,
            Status::Frozen => Self::Frozen,
            Status::Released => Self::Released,
            Status::Revoked => Self::Revoked,
            Status::NotActivated => Self::NotActivated,
            Status::FingerprintMismatch => Self::FingerprintMismatch,
        }
    }
}

/// The answer to a check-in: always `200`, with `valid: false` and a reason when the software
/// must not run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckInResponse {
    /// May the software run.
    pub valid: bool,
    /// Why (or why not).
    pub status: CheckInStatus,
    /// The code's expiry, RFC 3339 UTC; `null` when perpetual or unknown.
    pub expires_at: Option<String>,
    /// Present only when a newer license file exists for this machine (after a renewal or a
    /// hardware change): same `license_id`, higher `revision`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

/// A freed seat.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeactivateResponse {
    /// Always true.
    pub deactivated: bool,
    /// Seats after freeing this one.
    pub seats: Seats,
}

/// One public key of `GET /v1/keys`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicKey {
    /// The key id, as in license envelopes.
    pub kid: String,
    /// Always `ed25519`.
    pub alg: String,
    /// Standard base64 of the 32 raw public-key bytes.
    pub public_key: String,
    /// `active` (signs new licenses) or `retired` (verifies old ones).
    #[schema(example = "active")]
    pub status: String,
}

/// `GET /v1/keys`: every key that verifies licenses, active first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeysResponse {
    /// The keys.
    pub keys: Vec<PublicKey>,
}

impl From<crate::keys::KeysDocument> for KeysResponse {
    fn from(doc: crate::keys::KeysDocument) -> Self {
        let keys = doc
            .keys
            .into_iter()
            .map(|k| PublicKey {
                kid: k.kid,
                alg: k.alg,
                public_key: k.public_key,
                status: k.status.to_string(),
            })
            .collect();
        Self { keys }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn message(err: ApiError) -> String {
        match err {
            ApiError::InvalidRequest(msg) => msg,
            other => panic!("expected INVALID_REQUEST, got {other:?}"),
        }
    }

    #[test]
    fn codes_are_printable_ascii_without_spaces() {
        let long = "P".repeat(65);
        let cases = [
            ("PL123", true),
            ("PL-1_2.3/+=", true),
            (&"P".repeat(64)[..], true),
            ("", false),
            (&long[..], false),
            ("PL 123", false),
            (" PL123", false),
            ("PL\t1", false),
            ("PLé", false),
            ("PL\u{7f}", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(AuthorizationCode::parse(raw).is_ok(), ok, "{raw:?}");
        }
    }

    #[test]
    fn code_debug_shows_only_a_hint() {
        let code = AuthorizationCode::parse("PLSECRET123456").unwrap();
        let printed = format!("{code:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
    }

    #[test]
    fn every_bad_field_is_named() {
        let fp = "AA|D|B|C";
        let cases = [
            (json!([]), "body"),
            (json!({"fingerprint": fp}), "code: is required"),
            (
                json!({"code": 5, "fingerprint": fp}),
                "code: must be a string",
            ),
            (
                json!({"code": "P L", "fingerprint": fp}),
                "code: must be printable",
            ),
            (json!({"code": "PL1"}), "fingerprint: is required"),
            (
                json!({"code": "PL1", "fingerprint": "  "}),
                "fingerprint: fingerprint is empty",
            ),
            (
                json!({"code": "PL1", "fingerprint": "x".repeat(5121)}),
                "fingerprint: ",
            ),
            (
                json!({"code": "PL1", "fingerprint": fp, "hostname": 1}),
                "hostname: must be",
            ),
            (
                json!({"code": "PL1", "fingerprint": fp, "hostname": "h".repeat(256)}),
                "hostname: ",
            ),
        ];
        for (body, expected) in cases {
            let parsed = ActivateRequest::from_json(&body).and_then(Machine::try_from);
            let msg = message(parsed.unwrap_err());
            assert!(msg.contains(expected), "{body}: {msg}");
        }
    }

    #[test]
    fn a_good_request_becomes_a_machine() {
        let body = json!({"code": "PL1", "fingerprint": " aa|d|b|c ", "hostname": " box ", "x": 1});
        let machine = Machine::try_from(ActivateRequest::from_json(&body).unwrap()).unwrap();
        assert_eq!(machine.code.as_str(), "PL1");
        assert_eq!(machine.fingerprint.as_str(), "AA|D|B|C");
        assert_eq!(machine.hostname.as_deref(), Some("box"));
        let body = json!({"code": "PL1", "fingerprint": "aa", "hostname": null});
        let machine = Machine::try_from(MachineRequest::from_json(&body).unwrap()).unwrap();
        assert_eq!(machine.hostname, None);
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_the_documented_codes(raw in "\\PC{0,70}") {
            let expected = (1..=MAX_CODE_LEN).contains(&raw.len())
                && raw.bytes().all(|b| (0x21..=0x7e).contains(&b));
            prop_assert_eq!(AuthorizationCode::parse(&raw).is_ok(), expected);
            if let Ok(code) = AuthorizationCode::parse(&raw) {
                prop_assert_eq!(code.as_str(), raw.as_str());
            }
        }
    }
}
