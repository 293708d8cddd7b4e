//! Result codes and the response body of the production interface.

use serde::Serialize;

use crate::db::ids::InstanceId;
use crate::service;

/// Every result code the production interface answers (koogallery.md §3.3, §4.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    /// `000000`
    Success,
    /// `000001`: signature, timestamp or nonce rejected.
    AuthFailed,
    /// `000002`: a field is missing or malformed.
    InvalidParam,
    /// `000003`: the instance (or code) does not exist.
    NotFound,
    /// `000004`: accepted, still being processed; KooGallery asks again.
    Processing,
    /// `000005`: an internal error; KooGallery retries.
    Internal,
    /// `000100`: no instance resource available.
    NoResource,
    /// `000900`: the effective order's License quota is used up.
    QuotaExhausted,
    /// `000901`: the requested validity lies outside the order's period.
    OutsidePeriod,
    /// `000902`: a yearly/monthly License needs an expiry time.
    ExpiryRequired,
    /// `000903`: a device fingerprint is required.
    FingerprintRequired,
}

impl ResultCode {
    /// The six-digit code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "000000",
            Self::AuthFailed => "000001",
            Self::InvalidParam => "000002",
            Self::NotFound => "000003",
            Self::Processing => "000004",
            Self::Internal => "000005",
            Self::NoResource => "000100",
            Self::QuotaExhausted => "000900",
            Self::OutsidePeriod => "000901",
            Self::ExpiryRequired => "000902",
            Self::FingerprintRequired => "000903",
        }
    }
}

/// One answer to KooGallery. Serialised once; `Body-Sign` signs exactly those bytes.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    #[serde(rename = "resultCode", serialize_with = "code")]
    pub code: ResultCode,
    #[serde(rename = "resultMsg")]
    pub message: String,
    #[serde(rename = "instanceId", skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<InstanceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<Vec<InstanceInfo>>,
    /// Legacy `getLicense` only: the license string itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

/// One `queryInstance` entry. A License instance has no login data, so no `appInfo`.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceInfo {
    #[serde(rename = "instanceId")]
    pub instance_id: InstanceId,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's serialize_with signature"
)]
fn code<S: serde::Serializer>(code: &ResultCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(code.as_str())
}

impl Reply {
    /// A reply with `code` and `message`.
    pub fn new(code: ResultCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            instance_id: None,
            info: None,
            license: None,
        }
    }

    /// `000000 success.`
    pub fn success() -> Self {
        Self::new(ResultCode::Success, "success.")
    }

    /// Adds `instanceId`.
    #[must_use]
    pub fn with_instance(mut self, instance_id: InstanceId) -> Self {
        self.instance_id = Some(instance_id);
        self
    }

    /// The exact bytes sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings always serialises; the fallback is a fixed valid body anyway.
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"resultCode":"000005","resultMsg":"internal error."}"#.to_vec()
        })
    }
}

impl ResultCode {
    /// The one mapping of the service layer's errors to result codes (koogallery.md §3.3,
    /// §4.2.5). Refusals that only the client API meets still get a definite code, so the match
    /// stays total.
    pub fn of(e: &service::Error) -> Self {
        use service::Error as E;
        match e {
            E::InstanceNotFound(_)
            | E::InstanceReleased
            | E::CodeNotFound
            | E::ActivationNotFound
            | E::NotFound(_) => Self::NotFound,
            E::NoInstanceResource { .. } => Self::NoResource,
            E::QuotaExhausted { .. } | E::SeatLimitReached { .. } => Self::QuotaExhausted,
            // A frozen instance answers as a validity outside the order's usable period.
            E::OutsidePeriod | E::InstanceFrozen => Self::OutsidePeriod,
            E::ExpiryRequired => Self::ExpiryRequired,
            E::FingerprintRequired => Self::FingerprintRequired,
            E::Invalid { .. }
            | E::CodeNotClaimed
            | E::Refused { .. }
            | E::Conflict(_)
            | E::DeactivationLimitReached { .. } => Self::InvalidParam,
            E::Pending(_) => Self::Processing,
            E::MarketplaceUnavailable | E::Unavailable | E::Internal(_) => Self::Internal,
        }
    }
}

/// The answer to a service error: its result code and message; an internal failure is logged
/// with its cause chain and answered without it.
impl From<service::Error> for Reply {
    fn from(e: service::Error) -> Self {
        let code = ResultCode::of(&e);
        if code == ResultCode::Internal {
            tracing::error!(error.cause_chain = ?e, "callback failed");
            return Self::new(code, "internal error; please retry.");
        }
        Self::new(code, e.to_string())
    }
}

impl Reply {
    /// A rule's outcome inside a callback's transaction: a refusal is an answer like a success,
    /// journalled and committed with it; only a failure underneath (`000005`) stays an error, so
    /// the transaction rolls back and KooGallery retries.
    pub fn or_refusal(result: Result<Self, service::Error>) -> Result<Self, service::Error> {
        match result {
            Err(e) if ResultCode::of(&e) != ResultCode::Internal => Ok(Self::from(e)),
            other => other,
        }
    }
}
