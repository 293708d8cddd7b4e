//! `KooGallery` open-API client (spec §3.2, §4.3): activate and query authorization codes,
//! report daily usage, query orders and upload licenses.
//!
//! Every request is APIG-signed with the AK/SK (§2.7) and goes to the primary host first; on a
//! transport error, timeout or HTTP 5xx it is retried once against the fallback host (§1.1).
//! TLS certificates of `https://` hosts are always verified; `http://` serves the local
//! simulator and tests. Every call leaves a row in `marketplace_calls` (no secrets, codes only
//! as hints), and a journal failure never fails the call.

mod multipart;
mod probe;
mod transport;
mod types;
mod wire;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

pub use self::multipart::{MAX_CHARACTERS, file_name};
pub use self::probe::HostProbe;
use self::transport::{Journal, Reply, Request, UNRESERVED};
pub use self::types::{
    ActivateOutcome, LicenseCodeInfo, LicenseInfo, MarketplaceError, OrderInfo, OrderLine,
    QueryOutcome, UsageEntry, UsageOutcome,
};
use crate::config::Settings;
use crate::db::Pool;
use crate::db::models::marketplace_calls::NewMarketplaceCall;
use crate::telemetry::code_hint;

const API: &str = "/api/mkp-openapi-public/global";
/// At most this many codes per usage report (spec §3.2.3).
pub const MAX_USAGE_BATCH: usize = 100;
/// Success code of the License 2.0 APIs.
const LICENSE_OK: &str = "92020000";
/// Success codes of the order query and the upload: the online-License guide documents
/// `CBC.0000`, the `SaaS` tables `MKT.0000`, and the production interface's `000000` is
/// tolerated too.
const ORDER_OK: &[&str] = &["000000", "MKT.0000", "CBC.0000"];

/// Calls `KooGallery`'s open APIs.
pub struct MarketplaceClient {
    http: reqwest::Client,
    primary: url::Url,
    fallback: url::Url,
    /// AK and SK; `None` makes every call fail with [`MarketplaceError::NotConfigured`].
    credentials: Option<(String, SecretString)>,
    /// Where calls are journalled; `None` for [`MarketplaceClient::for_probing`].
    pool: Option<Pool>,
}

impl std::fmt::Debug for MarketplaceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarketplaceClient")
            .field("primary", &self.primary.as_str())
            .field("fallback", &self.fallback.as_str())
            .field("configured", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

/// Idle connections kept open to each KooGallery host. Enough for a busy node's simultaneous
/// first activations to find one each: a connection closed after a burst is a new TLS
/// handshake for the next call (over a millisecond of CPU on each side, where a call on a
/// kept connection costs tens of microseconds).
pub const IDLE_CONNECTIONS_PER_HOST: usize = 32;

impl MarketplaceClient {
    /// A client for the configured marketplace, journalling into `pool`. Missing AK/SK is not
    /// an error here: the server runs without them, and each call then reports
    /// [`MarketplaceError::NotConfigured`].
    pub fn new(settings: &Settings, pool: Pool) -> anyhow::Result<Self> {
        Self::with_journal(settings, Some(pool))
    }

    /// A client that journals nothing, for [`MarketplaceClient::probe`] (`koolicense doctor`
    /// runs before, or without, a database).
    pub fn for_probing(settings: &Settings) -> anyhow::Result<Self> {
        Self::with_journal(settings, None)
    }

    fn with_journal(settings: &Settings, pool: Option<Pool>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.marketplace.timeout)
            .connect_timeout(settings.marketplace.timeout)
            // A redirect would carry a signature made for another URL; the gateway never sends one.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("koolicense/", env!("CARGO_PKG_VERSION")))
            // Bounded, so the file descriptors kept for outbound calls (see
            // `http_limits::budget`) are enough however many calls ran at once.
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
            .build()?;
        let credentials = match (&settings.marketplace.apig_ak, &settings.marketplace.apig_sk) {
            (Some(ak), Some(sk)) => Some((ak.expose_secret().to_owned(), sk.clone())),
            _ => None,
        };
        Ok(Self {
            http,
            primary: settings.marketplace.url.clone(),
            fallback: settings.marketplace.fallback_url.clone(),
            credentials,
            pool,
        })
    }

    /// Activates an authorization code (v1, spec §3.2.1).
    pub async fn activate(&self, code: &str) -> Result<ActivateOutcome, MarketplaceError> {
        self.activate_into(code, None).await
    }

    /// As [`Self::activate`]; with `journal`, the call's row is added there for the caller to
    /// write with what it does next, in one transaction, instead of being written now.
    pub async fn activate_into(
        &self,
        code: &str,
        journal: Option<&mut Vec<NewMarketplaceCall>>,
    ) -> Result<ActivateOutcome, MarketplaceError> {
        let req = json_request("/v1/license/activate", &json!({ "license": code }), &[code]);
        let interpret = |reply: &Reply| match reply.code.as_str() {
            LICENSE_OK => {
                wire::license_code_info(reply.json.get("data")).map(ActivateOutcome::Activated)
            }
            "92020003" => Ok(ActivateOutcome::AlreadyActive),
            "92020004" => Ok(ActivateOutcome::NotClaimed),
            "92020005" => Ok(ActivateOutcome::NotFound),
            _ => Err(rejected(reply)),
        };
        self.call_into(req, code_journal("activate", code), interpret, journal)
            .await
    }

    /// Queries an authorization code's status and expiry (v1 heartbeat, spec §3.2.2).
    pub async fn query(&self, code: &str) -> Result<QueryOutcome, MarketplaceError> {
        self.query_into(code, None).await
    }

    /// As [`Self::query`], the journal row added to `journal` when given (see
    /// [`Self::activate_into`]).
    pub async fn query_into(
        &self,
        code: &str,
        journal: Option<&mut Vec<NewMarketplaceCall>>,
    ) -> Result<QueryOutcome, MarketplaceError> {
        let req = json_request(
            "/v1/license/heartbeat",
            &json!({ "license": code }),
            &[code],
        );
        let interpret = |reply: &Reply| match reply.code.as_str() {
            LICENSE_OK => wire::license_info(reply.json.get("data"), code).map(QueryOutcome::Info),
            "92020011" => Ok(QueryOutcome::NotActivated),
            "92020005" => Ok(QueryOutcome::NotFound),
            _ => Err(rejected(reply)),
        };
        self.call_into(req, code_journal("query", code), interpret, journal)
            .await
    }

    /// Reports each code's distinct active clients of a day (v2, spec §3.2.3); at most
    /// [`MAX_USAGE_BATCH`] codes per call. An empty batch sends nothing.
    ///
    /// `92020020` (the batch holds an invalid code) counts as a partial success when the answer
    /// names the failed codes: the valid ones were counted.
    pub async fn report_usage(
        &self,
        batch: &[UsageEntry],
    ) -> Result<UsageOutcome, MarketplaceError> {
        if batch.is_empty() {
            return Ok(UsageOutcome::default());
        }
        if batch.len() > MAX_USAGE_BATCH {
            // What the marketplace itself would answer (req param is invalid).
            return Err(MarketplaceError::Rejected {
                code: "95000001".to_owned(),
                message: format!(
                    "{} codes in one usage report; at most {MAX_USAGE_BATCH}",
                    batch.len()
                ),
            });
        }
        let usage: Vec<Value> = batch
            .iter()
            .map(|e| {
                json!({ "license": e.license, "software_usage_Info": [{ "active_num": e.active_num }] })
            })
            .collect();
        let codes: Vec<&str> = batch.iter().map(|e| e.license.as_str()).collect();
        let req = json_request(
            "/v2/license/software-usage-info",
            &json!({ "usage_info": usage }),
            &codes,
        );
        let journal = Journal {
            activity: "usage",
            code_hint: (batch.len() == 1).then(|| code_hint(&batch[0].license)),
            ..Journal::default()
        };
        self.call(req, journal, |reply| {
            let failed = wire::failed_codes(reply.json.get("data"));
            match (reply.code.as_str(), failed) {
                (LICENSE_OK, failed) => Ok(UsageOutcome {
                    failed_codes: failed.unwrap_or_default(),
                }),
                ("92020020", Some(failed)) if !failed.is_empty() => Ok(UsageOutcome {
                    failed_codes: failed,
                }),
                _ => Err(rejected(reply)),
            }
        })
        .await
    }

    /// Queries an order, optionally one line of it (spec §4.3.1). Mock orders
    /// (`MOCKPERIODYEARNEW`, …) need nothing special: the marketplace answers them.
    pub async fn query_order(
        &self,
        order_id: &str,
        order_line_id: Option<&str>,
    ) -> Result<OrderInfo, MarketplaceError> {
        let mut query = vec![("orderId", order_id.to_owned())];
        if let Some(line) = order_line_id {
            query.push(("orderLineId", line.to_owned()));
        }
        let req = Request {
            method: reqwest::Method::GET,
            path: format!("{API}/v1/order/query"),
            query,
            content_type: "application/json".to_owned(),
            body: Vec::new(),
            redact: Vec::new(),
        };
        let journal = Journal {
            activity: "order_query",
            order_id: Some(order_id.to_owned()),
            ..Journal::default()
        };
        self.call(req, journal, |reply| {
            if ORDER_OK.contains(&reply.code.as_str()) {
                wire::order_info(&reply.json)
            } else {
                Err(rejected(reply))
            }
        })
        .await
    }

    /// Uploads a license for a `getLicenseAsync` event (spec §4.3.2): inline as `CHARACTERS`
    /// up to [`MAX_CHARACTERS`] characters, otherwise as a `FILE` with its SHA-256.
    pub async fn upload_license(
        &self,
        event_id: &str,
        license_text: &str,
    ) -> Result<(), MarketplaceError> {
        let body = multipart::upload_body(event_id, license_text);
        let segment = percent_encoding::utf8_percent_encode(event_id, UNRESERVED);
        let req = Request {
            method: reqwest::Method::POST,
            path: format!("{API}/v1/market-event/{segment}/file"),
            query: Vec::new(),
            content_type: body.content_type,
            body: body.body,
            redact: Vec::new(),
        };
        let journal = Journal {
            activity: "upload",
            event_id: Some(event_id.to_owned()),
            ..Journal::default()
        };
        self.call(req, journal, |reply| {
            if ORDER_OK.contains(&reply.code.as_str()) {
                Ok(())
            } else {
                Err(rejected(reply))
            }
        })
        .await
    }
}

/// A signed JSON POST to `{API}{path}`; `secrets` never reach logs or the journal.
fn json_request(path: &str, body: &Value, secrets: &[&str]) -> Request {
    Request {
        method: reqwest::Method::POST,
        path: format!("{API}{path}"),
        query: Vec::new(),
        content_type: "application/json".to_owned(),
        body: body.to_string().into_bytes(),
        redact: secrets.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn code_journal(activity: &'static str, code: &str) -> Journal {
    Journal {
        activity,
        code_hint: Some(code_hint(code)),
        ..Journal::default()
    }
}

fn rejected(reply: &Reply) -> MarketplaceError {
    MarketplaceError::Rejected {
        code: reply.code.clone(),
        message: reply.message.clone(),
    }
}
