//! One signed exchange with the marketplace: APIG signing, the fallback host, reading the
//! answer's envelope, and the journal row every call leaves behind.

use std::time::Instant;

use chrono::Utc;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::ExposeSecret;
use serde_json::Value;

use super::MarketplaceClient;
use super::types::MarketplaceError;
use crate::db::models::marketplace_calls::{self, NewMarketplaceCall, OUTBOUND};
use crate::koogallery::apig;

/// RFC 3986 unreserved characters stay; everything else (a space included) becomes `%XY`.
/// The signer reads `+` literally, so a space must never travel as `+`.
pub(super) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Longest slice of an unexpected body kept in an error or journal row.
const MAX_SNIPPET: usize = 200;

/// A request to send, before signing.
pub(super) struct Request {
    pub method: reqwest::Method,
    /// The API path, segments already percent-encoded.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Values (authorization codes) that must not reach the journal or logs.
    pub redact: Vec<String>,
}

/// The keys of the journal row.
#[derive(Default)]
pub(super) struct Journal {
    pub activity: &'static str,
    pub order_id: Option<String>,
    pub instance_id: Option<String>,
    pub event_id: Option<String>,
    pub code_hint: Option<String>,
}

/// An answer's envelope: the HTTP status, the marketplace's result code and message, the JSON.
pub(super) struct Reply {
    pub code: String,
    pub message: String,
    pub json: Value,
}

/// A host's answer below HTTP 500.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) host: String,
    /// Why the primary host was passed over, when the fallback answered.
    pub(super) fallback_reason: Option<String>,
}

impl MarketplaceClient {
    /// Sends `req` (primary host, then fallback), reads the envelope, lets `interpret` turn it
    /// into a result, and journals the call whatever happened.
    pub(super) async fn call<T>(
        &self,
        req: Request,
        journal: Journal,
        interpret: impl FnOnce(&Reply) -> Result<T, MarketplaceError>,
    ) -> Result<T, MarketplaceError> {
        self.call_into(req, journal, interpret, None).await
    }

    /// As [`Self::call`]; with `deferred`, the journal row is added there for the caller to
    /// write in its own transaction instead of being written now.
    pub(super) async fn call_into<T>(
        &self,
        req: Request,
        journal: Journal,
        interpret: impl FnOnce(&Reply) -> Result<T, MarketplaceError>,
        deferred: Option<&mut Vec<NewMarketplaceCall>>,
    ) -> Result<T, MarketplaceError> {
        let started = Instant::now();
        let mut http_status = None;
        let mut detail = None;
        let mut result_code = None;
        let mut host = None;
        let result = match self.exchange(&req).await {
            Err(e) => Err(e),
            Ok(answer) => {
                http_status = Some(answer.status);
                host = Some(answer.host.clone());
                detail = Some(match &answer.fallback_reason {
                    Some(why) => format!("host={} (fallback; {why})", answer.host),
                    None => format!("host={}", answer.host),
                });
                envelope(&answer, &req.redact).and_then(|reply| {
                    result_code = Some(reply.code.clone());
                    interpret(&reply)
                })
            }
        };
        let code = match (&result, result_code, http_status) {
            (_, Some(code), _) => code,
            (Err(MarketplaceError::Protocol(_)), None, Some(status)) => format!("HTTP {status}"),
            (Err(e), None, _) => e.journal_code(),
            (Ok(_), None, _) => "OK".to_owned(),
        };
        if let Err(e) = &result {
            let why = e.to_string();
            detail = Some(match detail {
                Some(host) => format!("{host}; {why}"),
                None => why,
            });
        }
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        tracing::info!(
            marketplace.activity = journal.activity,
            marketplace.result_code = %code,
            marketplace.host = host.as_deref(),
            http.status = http_status,
            latency_ms,
            "called KooGallery"
        );
        let mut row = NewMarketplaceCall::new(OUTBOUND, journal.activity, &code, latency_ms);
        row.order_id = journal.order_id;
        row.instance_id = journal.instance_id;
        row.event_id = journal.event_id;
        row.code_hint = journal.code_hint;
        row.http_status = http_status.map(i64::from);
        row.detail = detail.map(|d| redact(&d, &req.redact));
        match deferred {
            Some(rows) => rows.push(row),
            None => self.write_journal(row).await,
        }
        result
    }

    /// `req` signed with the AK/SK and sent to `base`: the host as signed (`host[:port]`, enough
    /// to tell the hosts apart in logs and the journal) and the response as it came.
    pub(super) async fn send_signed(
        &self,
        base: &url::Url,
        req: &Request,
        ak: &str,
        sk: &str,
    ) -> (String, reqwest::Result<reqwest::Response>) {
        let url = request_url(base, req);
        let signed = apig::sign(
            ak,
            sk,
            req.method.as_str(),
            &url,
            &[("Content-Type".to_owned(), req.content_type.clone())],
            &req.body,
            &apig::format_sdk_date(Utc::now()),
        );
        let sent = self
            .http
            .request(req.method.clone(), url)
            .header("Content-Type", &req.content_type)
            .header("Host", &signed.host)
            .header("X-Sdk-Date", &signed.sdk_date)
            .header("Authorization", &signed.authorization)
            .body(req.body.clone())
            .send()
            .await;
        (signed.host, sent)
    }

    /// Journals rows deferred by [`Self::call_into`] whose caller could not write them with its
    /// own transaction (it failed, or ended before it).
    pub async fn write_journal_rows(&self, rows: Vec<NewMarketplaceCall>) {
        for row in rows {
            self.write_journal(row).await;
        }
    }

    /// Journals the call as a database write; a failure is logged and never fails the call.
    async fn write_journal(&self, row: NewMarketplaceCall) {
        let Some(pool) = &self.pool else { return };
        // Through the group commit, so on SQLite the journal row shares its fsync with the other
        // waiting writes instead of competing with them for the write lock; one statement, so
        // on PostgreSQL without a transaction around it.
        let written = crate::db::write_statement(pool, move |conn| {
            marketplace_calls::insert(conn, &row).map_err(anyhow::Error::from)
        })
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "could not journal a marketplace call");
        }
    }

    /// The primary host; on a transport error, timeout or 5xx, once more against the fallback.
    async fn exchange(&self, req: &Request) -> Result<Answer, MarketplaceError> {
        let Some((ak, sk)) = &self.credentials else {
            return Err(MarketplaceError::NotConfigured);
        };
        let mut failures: Vec<String> = Vec::new();
        for base in [&self.primary, &self.fallback] {
            let (host, sent) = self.send_signed(base, req, ak, sk.expose_secret()).await;
            let failure = match sent {
                Ok(response) if response.status().as_u16() < 500 => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(body) => {
                            let fallback_reason =
                                (!failures.is_empty()).then(|| failures.join("; "));
                            if let Some(why) = &fallback_reason {
                                tracing::warn!(marketplace.host = %host, primary.error = %why,
                                    "primary KooGallery host failed; the fallback answered");
                            }
                            return Ok(Answer {
                                status,
                                body: body.to_vec(),
                                host,
                                fallback_reason,
                            });
                        }
                        Err(e) => transport_error(e),
                    }
                }
                Ok(response) => format!("HTTP {}", response.status().as_u16()),
                Err(e) => transport_error(e),
            };
            tracing::warn!(marketplace.host = %host, error = %failure, "KooGallery host failed");
            failures.push(format!("{host}: {failure}"));
        }
        Err(MarketplaceError::Unavailable(failures.join("; ")))
    }
}

/// `base` (keeping any path prefix it has) + the API path + the `%20`-encoded query.
fn request_url(base: &url::Url, req: &Request) -> url::Url {
    let mut url = base.clone();
    url.set_path(&format!(
        "{}{}",
        base.path().trim_end_matches('/'),
        req.path
    ));
    let query = req
        .query
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(name, UNRESERVED),
                utf8_percent_encode(value, UNRESERVED)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    url.set_query((!query.is_empty()).then_some(query.as_str()));
    url
}

/// A transport error without its URL (harmless but noisy), its kind named, causes chained.
pub(super) fn transport_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    let e = e.without_url();
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads the marketplace's envelope: `error_code`/`error_msg` (License APIs) or
/// `resultCode`/`resultMsg` (order query). Gateway refusals become `Unauthorized`, throttling
/// `Unavailable`, and a 4xx without a readable code `Rejected` with `HTTP <status>`.
pub(super) fn envelope(answer: &Answer, secrets: &[String]) -> Result<Reply, MarketplaceError> {
    let status = answer.status;
    let json: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let field = |names: &[&str]| {
        json.as_ref()
            .and_then(|j| names.iter().find_map(|n| j.get(*n)))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    };
    let code = field(&["error_code", "resultCode", "errorCode"]);
    let message = redact(
        &field(&["error_msg", "resultMsg", "errorMsg"]).unwrap_or_default(),
        secrets,
    );
    if status == 429 || code.as_deref().is_some_and(|c| c == "APIGW.0308") {
        return Err(MarketplaceError::Unavailable(format!(
            "{}: throttled ({})",
            answer.host,
            code.as_deref().unwrap_or("HTTP 429")
        )));
    }
    if status == 401 || status == 403 || code.as_deref().is_some_and(|c| c.starts_with("APIGW.")) {
        return Err(MarketplaceError::Unauthorized {
            code: code.unwrap_or_else(|| format!("HTTP {status}")),
        });
    }
    match (json, code) {
        (Some(json), Some(code)) => Ok(Reply {
            code,
            message,
            json,
        }),
        _ if (200..300).contains(&status) => Err(MarketplaceError::Protocol(format!(
            "HTTP {status} without an error code: {}",
            snippet(&answer.body, secrets)
        ))),
        _ => Err(MarketplaceError::Rejected {
            code: format!("HTTP {status}"),
            message: snippet(&answer.body, secrets),
        }),
    }
}

/// The start of a body, for errors: lossy UTF-8, redacted, clipped.
fn snippet(body: &[u8], secrets: &[String]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .take(MAX_SNIPPET)
        .collect();
    redact(&text, secrets)
}

/// Replaces every secret in `text` by its hint.
pub(super) fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |acc, secret| {
            acc.replace(secret.as_str(), &crate::telemetry::code_hint(secret))
        })
}
