//! `koolicense sim drive`: plays the seller console's debug run against a production URL.
//!
//! Each request is a `POST URL?signature=…&timestamp=…&nonce=…` with a JSON body signed by
//! Scheme B (koogallery.md §2.3) exactly as the marketplace signs it: over the sorted compact
//! payload, while the body itself is sent in the order the fields were written (unsorted on
//! purpose, as in the documentation's own `getLicenseAsync` example). The case list lives in
//! `cases.rs`; this file is the machinery: signing, sending, checking, recording.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use url::Url;

use crate::koogallery::auth;

/// KooGallery's timeout for production-interface calls (koogallery.md §1.2).
pub const MARKETPLACE_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of one debug case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case, e.g. `newInstance repeat`.
    pub name: String,
    /// Why it failed; `None` when it passed.
    pub failure: Option<String>,
    /// The requests and answers of the case, for `--verbose`.
    pub transcript: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// How a request is authenticated.
#[derive(Debug, Clone, Copy)]
pub(super) enum Auth<'a> {
    /// Fresh timestamp and nonce, the right key.
    Good,
    /// Signed with a key that is not the access key.
    WrongKey,
    /// Correctly signed, but the timestamp is ten minutes old.
    Stale,
    /// Correctly signed with this nonce and timestamp (to replay a request).
    Fixed { nonce: &'a str, timestamp: &'a str },
    /// Correctly signed over an empty nonce, and no `nonce` parameter sent.
    NoNonce,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// The `Body-Sign` check: `None` without a legacy key, else why it failed or `Ok`.
    pub body_sign: Option<Result<(), String>>,
}

impl Answer {
    /// `resultCode`, or `""`.
    pub fn code(&self) -> &str {
        self.json
            .get("resultCode")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `instanceId`, when a non-empty string.
    pub fn instance_id(&self) -> Option<&str> {
        self.json
            .get("instanceId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
    }
}

/// Sends the cases and collects their results.
pub(super) struct Driver {
    client: reqwest::Client,
    url: Url,
    access_key: String,
    legacy_key: Option<String>,
    /// Results so far, in run order.
    pub results: Vec<CaseResult>,
}

/// 64 upper-case hex characters, like the marketplace's nonces.
pub(super) fn nonce() -> String {
    hex::encode_upper(rand::random::<[u8; 32]>())
}

/// Runs every debug case against `url` (the production interface, e.g.
/// `https://isv.example.com/koogallery/license`) and returns one result per case.
/// With `legacy_key`, every answer must carry a valid `Body-Sign` header.
pub async fn drive(url: &str, access_key: &str, legacy_key: Option<&str>) -> Vec<CaseResult> {
    let failed = |reason: String| {
        vec![CaseResult {
            name: "setup".to_owned(),
            failure: Some(reason),
            transcript: Vec::new(),
        }]
    };
    let url = match Url::parse(url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return failed(format!("{url:?} is not an http(s) URL")),
    };
    // A fresh connection per call, as the marketplace's callbacks arrive, so a server closing
    // idle keep-alive connections cannot fail a case by racing with its reuse.
    let client = reqwest::Client::builder()
        .timeout(MARKETPLACE_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build();
    let client = match client {
        Ok(client) => client,
        Err(e) => return failed(format!("cannot build an HTTP client: {e}")),
    };
    let mut driver = Driver {
        client,
        url,
        access_key: access_key.to_owned(),
        legacy_key: legacy_key.map(str::to_owned),
        results: Vec::new(),
    };
    super::cases::run(&mut driver).await;
    driver.results
}

impl Driver {
    /// The URL with Scheme-B parameters for `body`.
    fn signed_url(&self, body: &[u8], auth: Auth<'_>) -> Url {
        let payload = auth::canonical_payload(body).unwrap_or_default();
        let now_ms = Utc::now().timestamp_millis();
        let fresh = nonce();
        let wrong_key = format!("{}-not-the-key", self.access_key);
        let (key, nonce, timestamp) = match auth {
            Auth::Good => (self.access_key.as_str(), fresh.as_str(), now_ms.to_string()),
            Auth::WrongKey => (wrong_key.as_str(), fresh.as_str(), now_ms.to_string()),
            Auth::Stale => (
                self.access_key.as_str(),
                fresh.as_str(),
                (now_ms - 600_000).to_string(),
            ),
            Auth::Fixed { nonce, timestamp } => {
                (self.access_key.as_str(), nonce, timestamp.to_owned())
            }
            Auth::NoNonce => (self.access_key.as_str(), "", now_ms.to_string()),
        };
        let signature = auth::scheme_b_signature(key, nonce, &timestamp, &payload);
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("signature", &signature);
            query.append_pair("timestamp", &timestamp);
            if !nonce.is_empty() {
                query.append_pair("nonce", nonce);
            }
        }
        url
    }

    /// Sends one signed request, noting it in `transcript`.
    pub(super) async fn send(
        &self,
        body: &Value,
        auth: Auth<'_>,
        transcript: &mut Vec<String>,
    ) -> Result<Answer, String> {
        let bytes = body.to_string().into_bytes();
        let url = self.signed_url(&bytes, auth);
        transcript.push(format!("-> POST {url}"));
        transcript.push(format!("   {body}"));
        let started = Instant::now();
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .body(bytes)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let body_sign = response
            .headers()
            .get("Body-Sign")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let raw = response.bytes().await.map_err(|e| describe(&e))?;
        let elapsed = started.elapsed();
        transcript.push(format!(
            "<- {status} {} ({} ms){}",
            String::from_utf8_lossy(&raw),
            elapsed.as_millis(),
            body_sign
                .as_ref()
                .map_or_else(String::new, |s| format!(" Body-Sign: {s}")),
        ));
        let body_sign = self.legacy_key.as_deref().map(|key| match &body_sign {
            None => Err("the Body-Sign header is missing".to_owned()),
            Some(header) if auth::verify_body_sign(key, &raw, header) => Ok(()),
            Some(_) => Err("the Body-Sign header does not verify".to_owned()),
        });
        Ok(Answer {
            status,
            json: serde_json::from_slice(&raw).unwrap_or(Value::Null),
            body_sign,
        })
    }

    /// The common checks: HTTP 200, a valid `Body-Sign` when required, `resultCode` in `codes`.
    pub(super) fn verdict(answer: &Answer, codes: &[&str]) -> Result<(), String> {
        if answer.status != 200 {
            return Err(format!("HTTP {} (KooGallery expects 200)", answer.status));
        }
        if let Some(Err(reason)) = &answer.body_sign {
            return Err(reason.clone());
        }
        if answer.json.is_null() {
            return Err("the answer is not JSON".to_owned());
        }
        if !codes.contains(&answer.code()) {
            let msg = answer
                .json
                .get("resultMsg")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(format!(
                "resultCode {:?} ({msg:?}), expected {}",
                answer.code(),
                codes.join(" or ")
            ));
        }
        Ok(())
    }

    /// Records a case.
    pub(super) fn record(
        &mut self,
        name: &str,
        transcript: Vec<String>,
        outcome: Result<(), String>,
    ) {
        self.results.push(CaseResult {
            name: name.to_owned(),
            failure: outcome.err(),
            transcript,
        });
    }

    /// Sends `body`, checks it answers one of `codes` and passes `extra`, records the case,
    /// and returns the answer when the case passed.
    pub(super) async fn case(
        &mut self,
        name: &str,
        body: Value,
        auth: Auth<'_>,
        codes: &[&str],
        extra: impl FnOnce(&Answer) -> Result<(), String>,
    ) -> Option<Answer> {
        let mut transcript = Vec::new();
        let outcome = self
            .send(&body, auth, &mut transcript)
            .await
            .and_then(|answer| {
                Self::verdict(&answer, codes)?;
                extra(&answer)?;
                Ok(answer)
            });
        match outcome {
            Ok(answer) => {
                self.record(name, transcript, Ok(()));
                Some(answer)
            }
            Err(reason) => {
                self.record(name, transcript, Err(reason));
                None
            }
        }
    }
}

impl Driver {
    /// [`Driver::case`] with a good signature and no check beyond the result code.
    pub(super) async fn expect(
        &mut self,
        name: &str,
        body: Value,
        codes: &[&str],
    ) -> Option<Answer> {
        self.case(name, body, Auth::Good, codes, |_| Ok(())).await
    }
}

/// A transport error in one line, naming a timeout as KooGallery would see it.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", MARKETPLACE_TIMEOUT.as_secs())
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
