//! One harmless call to each marketplace host for `koolicense doctor`: is the host reachable
//! with a valid certificate, what does its clock say, and does its gateway accept our AK/SK.
//! Nothing is journalled: a probe is not a marketplace call the health report should count.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::json;

use super::transport::{Answer, envelope, transport_error};
use super::{MarketplaceClient, MarketplaceError, json_request};

/// An authorization code no order can have: the heartbeat query for it changes nothing.
const PROBE_CODE: &str = "KOOLICENSE-DOCTOR-PROBE";

/// What one host answered.
#[derive(Debug)]
pub struct HostProbe {
    /// The HTTP status.
    pub status: u16,
    /// The host's clock, from its `Date` header.
    pub date: Option<DateTime<Utc>>,
    /// `None` without AK/SK (an unsigned request was sent); else whether the gateway let the
    /// signed call through (any answer of the API itself) or refused our credentials.
    pub credentials: Option<Result<(), MarketplaceError>>,
}

impl MarketplaceClient {
    /// The primary and the fallback host.
    pub fn hosts(&self) -> [&url::Url; 2] {
        [&self.primary, &self.fallback]
    }

    /// Sends the probe to `base` alone (no fallback); `Err` says why no answer came (transport,
    /// certificate, timeout).
    pub async fn probe(&self, base: &url::Url) -> Result<HostProbe, String> {
        let req = json_request(
            "/v1/license/heartbeat",
            &json!({ "license": PROBE_CODE }),
            &[],
        );
        let (host, sent) = match &self.credentials {
            Some((ak, sk)) => self.send_signed(base, &req, ak, sk.expose_secret()).await,
            None => (base.to_string(), self.http.get(base.clone()).send().await),
        };
        let response = sent.map_err(transport_error)?;
        let status = response.status().as_u16();
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc));
        let body = response.bytes().await.map_err(transport_error)?;
        let credentials = self.credentials.as_ref().map(|_| {
            let answer = Answer {
                status,
                body: body.to_vec(),
                host,
                fallback_reason: None,
            };
            match envelope(&answer, &[]) {
                Err(refused @ MarketplaceError::Unauthorized { .. }) => Err(refused),
                _ if status >= 500 => Err(MarketplaceError::Unavailable(format!("HTTP {status}"))),
                _ => Ok(()),
            }
        });
        Ok(HostProbe {
            status,
            date,
            credentials,
        })
    }
}
