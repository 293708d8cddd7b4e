//! What the open-API client hands back: typed outcomes and one error type.
//!
//! Optional fields are `Option` wherever the spec leaves a field unconfirmed (open questions 5
//! and 6) or where a documented field may be missing in practice: the marketplace only makes
//! compatible changes within a `v{n}`, so we read what we know and ignore the rest (§3.2).

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::models::orders::OrderRecord;

/// What activating an authorization code answered (spec §3.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ActivateOutcome {
    /// `92020000`: activated now.
    Activated(LicenseCodeInfo),
    /// `92020003` (illegal state): already active; confirm with [`query`](super::MarketplaceClient::query).
    AlreadyActive,
    /// `92020004`: the buyer has not claimed the code yet.
    NotClaimed,
    /// `92020005`: no such code.
    NotFound,
}

/// The `license_code_info` of a successful activation (a JSON document sent as a string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseCodeInfo {
    /// `ALIVE` after a successful activation.
    pub status: String,
    /// An estimate only; the query API has the authoritative expiry.
    pub expire_time: Option<NaiveDateTime>,
    /// KooGallery's product id.
    pub product_id: Option<String>,
    /// The order the code belongs to.
    pub order_id: Option<String>,
    /// The quantity pricing attribute: how many machines the code may bind, as sent (the seat
    /// rule, `service::seats`, decides what an absent or odd one means).
    pub amount: Option<i64>,
}

/// What querying an authorization code answered (spec §3.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum QueryOutcome {
    /// `92020000` with the code's `LicenseInfo`.
    Info(LicenseInfo),
    /// `92020011`: the code was never activated.
    NotActivated,
    /// `92020005`: no such code.
    NotFound,
}

/// A code's state as KooGallery reports it. Only `status` is required; the other rows of
/// `LicenseInfo` were not all retrievable (open question 5), so each is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseInfo {
    /// `ALIVE`, `EXPIRED` or `RELEASED` (upper-cased; an unknown value is passed through).
    pub status: String,
    /// When the code expires.
    pub expire_time: Option<NaiveDateTime>,
    /// When the code was activated.
    pub activate_time: Option<NaiveDateTime>,
    /// KooGallery's product id.
    pub product_id: Option<String>,
    /// The order the code belongs to.
    pub order_id: Option<String>,
    /// The quantity pricing attribute, when reported.
    pub amount: Option<i64>,
}

/// One code's line of a usage report (spec §3.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageEntry {
    /// The authorization code.
    pub license: String,
    /// Distinct active clients of that code on the reported day.
    pub active_num: i64,
}

/// What a usage report answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageOutcome {
    /// Codes KooGallery refused (`data.check_fail_…`); the rest were accepted.
    pub failed_codes: Vec<String>,
}

/// An order as the order query returns it (spec §4.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderInfo {
    /// `orderId`.
    pub order_id: String,
    /// `NEW`, `TRIAL`, `TRIAL_TO_FORMAL`, `UNSUBSCRIBE`, `RENEW` or `CHANGE`.
    pub order_type: String,
    /// When the order was placed (not when it takes effect); `None` when missing or malformed.
    pub create_time: Option<NaiveDateTime>,
    /// The order lines.
    pub lines: Vec<OrderLine>,
    /// The `orderInfo` object as received, minus `buyerInfo` (personal data we do not need).
    pub raw: String,
}

impl OrderInfo {
    /// The row that stores `line` of this order, fetched now.
    pub fn record(&self, line: &OrderLine) -> OrderRecord {
        OrderRecord {
            order_id: self.order_id.clone(),
            order_line_id: line.order_line_id.clone(),
            order_type: self.order_type.clone(),
            product_id: line.product_id.clone(),
            quantity: line.quantity,
            charging_mode: line.charging_mode.clone(),
            expires_at: line.expire_time,
            raw: self.raw.clone(),
            fetched_at: crate::db::models::now(),
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    /// `orderLineId`.
    pub order_line_id: String,
    /// `ON_DEMAND`, `ONE_TIME`, `PERIOD` or `ON_DEMAND_PKG`.
    pub charging_mode: Option<String>,
    /// When the line's period ends.
    pub expire_time: Option<NaiveDateTime>,
    /// The product bought.
    pub product_id: Option<String>,
    /// How many units were bought (the instance's license quota).
    pub quantity: Option<i64>,
}

/// Why an open-API call did not produce an answer we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketplaceError {
    /// No AK/SK configured, so nothing can be signed.
    #[error(
        "KOOLICENSE_APIG_AK and KOOLICENSE_APIG_SK are not set: they are needed to call \
         KooGallery's open APIs"
    )]
    NotConfigured,
    /// Neither host answered usefully: transport error, timeout, HTTP 5xx or throttling.
    #[error("KooGallery is unavailable: {0}")]
    Unavailable(String),
    /// The API gateway refused our credentials (`APIGW.*`, HTTP 401/403).
    #[error("KooGallery refused our credentials ({code})")]
    Unauthorized {
        /// The gateway's code, or `HTTP <status>`.
        code: String,
    },
    /// KooGallery answered with an error code we do not map to an outcome.
    #[error("KooGallery rejected the call: {code} {message}")]
    Rejected {
        /// The marketplace's `error_code` / `resultCode`, or `HTTP <status>`.
        code: String,
        /// Its message, with any authorization code replaced by a hint.
        message: String,
    },
    /// The answer could not be understood.
    #[error("KooGallery's answer could not be understood: {0}")]
    Protocol(String),
}

/// Marketplace codes that mean "internal error, try again".
const INTERNAL_ERROR_CODES: &[&str] = &["92020001", "CBC.0999", "91381036", "MKT.9999"];

impl MarketplaceError {
    /// True when the same call may succeed later without anyone changing anything: an
    /// unreachable marketplace, a garbled answer, or a marketplace-side internal error.
    /// Configuration problems and business rejections are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Protocol(_) => true,
            Self::Rejected { code, .. } => INTERNAL_ERROR_CODES.contains(&code.as_str()),
            Self::NotConfigured | Self::Unauthorized { .. } => false,
        }
    }

    /// The code journalled for this error.
    pub(crate) fn journal_code(&self) -> String {
        match self {
            Self::NotConfigured => "NOT_CONFIGURED".to_owned(),
            Self::Unavailable(_) => "UNAVAILABLE".to_owned(),
            Self::Unauthorized { code } | Self::Rejected { code, .. } => code.clone(),
            Self::Protocol(_) => "PROTOCOL".to_owned(),
        }
    }
}
