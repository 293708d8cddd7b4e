//! Signed answers (`api.md` §4.5): every answer of activate, check-in and deactivate, errors
//! included (a 429 of the rate limit, a 400 of the JSON extractor), carries the request's
//! `nonce`, the server's time and the `Koolicense-Signature` header over the exact body, so the
//! client SDK can tell the server's verdict from a man in the middle's.
//!
//! One middleware does it for the three routes, after everything else has answered: the
//! handlers stay unaware of it, and no answer can leave unsigned.

use actix_web::body::{BoxBody, MessageBody, to_bytes_limited};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use koolicense_core::answer;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::startup::AppState;

/// The routes whose answers are signed.
const SIGNED_PATHS: [&str; 3] = ["/v1/activate", "/v1/check-in", "/v1/deactivate"];
/// Longest `nonce`.
const MAX_NONCE_LEN: usize = 64;
/// Largest answer body re-read for signing; the client API's answers are a few kilobytes.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Middleware of the `/v1` scope: signs the answers of [`SIGNED_PATHS`], passes the rest.
pub async fn sign_answers(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !SIGNED_PATHS.contains(&req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Internal(anyhow::anyhow!("AppState is not registered")).into());
    };
    let (nonce, (req, response)) = match read_nonce(&mut req).await {
        Ok(nonce) => {
            let answered = next.call(req).await?.map_into_boxed_body();
            (nonce, answered.into_parts())
        }
        Err(refused) => {
            let (req, _) = req.into_parts();
            (None, (req, refused.error_response()))
        }
    };
    let signed = sign(response, nonce, &state).await;
    Ok(ServiceResponse::new(req, signed))
}

/// Reads the body (as the JSON extractor would, up to its limit), takes its `nonce` and puts
/// the body back for the handler. A malformed nonce is refused here; a body that is not JSON is
/// left to the handler's extractor to refuse.
async fn read_nonce(req: &mut ServiceRequest) -> Result<Option<String>, ApiError> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidRequest(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > super::MAX_BODY_BYTES {
            return Err(ApiError::BodyTooLarge(super::MAX_BODY_BYTES));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let nonce = nonce_of(&body)?;
    req.set_payload(Payload::from(body));
    Ok(nonce)
}

/// The `nonce` of a request body that is a JSON object ([`parse_nonce`]); `None` for any other
/// body. Only the nonce is built: the other fields are skipped (the handler's extractor reads
/// them).
fn nonce_of(body: &[u8]) -> Result<Option<String>, ApiError> {
    match serde_json::from_slice::<NonceField>(body) {
        // A struct deserialises from an array too: only an object's field counts.
        Ok(NonceField { nonce }) if body.trim_ascii_start().starts_with(b"{") => {
            parse_nonce(nonce.as_ref())
        }
        Ok(_) => Ok(None),
        // A repeated `nonce` (the last one counts, as in any JSON object read here) or a body
        // that is not JSON: read as a whole value.
        Err(_) => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => parse_nonce(fields.get("nonce")),
            _ => Ok(None),
        },
    }
}

/// The one field of a request body [`read_nonce`] reads; `None` when absent or null.
#[derive(Deserialize)]
struct NonceField {
    nonce: Option<Value>,
}

/// The top-level fields of an answer that [`with_time_and_nonce`] sets, as found there.
#[derive(Deserialize)]
struct AddedFields {
    server_time: Option<IgnoredAny>,
    nonce: Option<IgnoredAny>,
}

/// `answer` (a JSON object) with `server_time` and `nonce` added last. An object that has
/// neither gets them appended to its bytes without its values being built: for the handlers'
/// compact `serde_json`, the very bytes that parsing and re-serialising it would give (the
/// fields keep their order). An object that has either is re-serialised with them replaced.
/// Anything but an object is logged and answered as an opaque internal error.
fn with_time_and_nonce(answer: &[u8], server_time: &str, nonce: Option<&str>) -> Vec<u8> {
    let nonce = nonce.map_or(Value::Null, |n| Value::String(n.to_owned()));
    let braced = answer.first() == Some(&b'{') && answer.last() == Some(&b'}');
    if braced
        && let Ok(AddedFields {
            server_time: None,
            nonce: None,
        }) = serde_json::from_slice(answer)
    {
        let fields = &answer[..answer.len() - 1];
        let mut body = Vec::with_capacity(answer.len() + 64);
        body.extend_from_slice(fields);
        if fields != b"{" {
            body.push(b',');
        }
        body.extend_from_slice(b"\"server_time\":");
        let _ = serde_json::to_writer(&mut body, server_time);
        body.extend_from_slice(b",\"nonce\":");
        let _ = serde_json::to_writer(&mut body, &nonce);
        body.push(b'}');
        return body;
    }
    let mut fields = serde_json::from_slice::<Map<String, Value>>(answer).unwrap_or_else(|_| {
        tracing::error!("a client-API answer is not a JSON object; answering an opaque error");
        let mut opaque = Map::new();
        opaque.insert("code".into(), "INTERNAL".into());
        opaque.insert("message".into(), "internal error".into());
        opaque
    });
    fields.insert("server_time".into(), Value::String(server_time.to_owned()));
    fields.insert("nonce".into(), nonce);
    serde_json::to_vec(&fields).unwrap_or_default()
}

/// `nonce`: absent or null, or 1–64 printable ASCII characters.
fn parse_nonce(value: Option<&Value>) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(nonce))
            if (1..=MAX_NONCE_LEN).contains(&nonce.len())
                && nonce.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            Ok(Some(nonce.clone()))
        }
        Some(_) => Err(ApiError::InvalidRequest(format!(
            "nonce: must be 1 to {MAX_NONCE_LEN} printable ASCII characters"
        ))),
    }
}

/// The answer with `server_time` and `nonce` added and the signature header set. Status and
/// headers (`Retry-After`, `X-Request-Id`) are kept.
async fn sign(response: HttpResponse, nonce: Option<String>, state: &AppState) -> HttpResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let answered = match to_bytes_limited(response.into_body(), MAX_ANSWER_BYTES).await {
        Ok(Ok(bytes)) => bytes,
        _ => web::Bytes::new(),
    };
    let server_time = crate::domain::times::rfc3339(crate::licensing::now_seconds());
    let body = with_time_and_nonce(&answered, &server_time, nonce.as_deref());
    let signature = answer::sign(&body, &*state.keys);
    let mut signed = HttpResponse::build(status);
    for (name, value) in &headers {
        if name != header::CONTENT_LENGTH {
            signed.append_header((name.clone(), value.clone()));
        }
    }
    if let Ok(value) = HeaderValue::from_str(&signature) {
        signed.insert_header((HeaderName::from_static("koolicense-signature"), value));
    }
    signed
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use serde_json::json;

    use super::*;

    /// What the answer was before the splice: parsed, the two fields set, serialised.
    fn reserialised(answer: &[u8], server_time: &str, nonce: Option<&str>) -> Vec<u8> {
        let mut fields: Map<String, Value> = serde_json::from_slice(answer).unwrap();
        fields.insert("server_time".into(), json!(server_time));
        fields.insert("nonce".into(), json!(nonce));
        serde_json::to_vec(&fields).unwrap()
    }

    #[test]
    fn appended_fields_give_the_bytes_of_a_reserialised_answer() {
        let answers = [
            json!({}),
            json!({"code": "SEAT_LIMIT", "message": "all 2 seats are taken"}),
            json!({"license": "-----BEGIN-----\nab\"c\u{1}é\n", "n": [1, 2.5, null], "o": {"k": true}}),
        ];
        for answer in answers {
            let bytes = serde_json::to_vec(&answer).unwrap();
            for nonce in [None, Some("n-1 \"x\"")] {
                assert_eq!(
                    String::from_utf8(with_time_and_nonce(&bytes, "2026-12-07T15:00:00Z", nonce)),
                    String::from_utf8(reserialised(&bytes, "2026-12-07T15:00:00Z", nonce)),
                    "{answer} with nonce {nonce:?}"
                );
            }
        }
    }

    #[test]
    fn fields_already_there_are_replaced_not_repeated() {
        let answer = br#"{"nonce":"old","a":1,"server_time":"then"}"#;
        let body = with_time_and_nonce(answer, "now", Some("new"));
        assert_eq!(body, br#"{"nonce":"new","a":1,"server_time":"now"}"#);
        // A duplicate key is JSON a handler never writes: still one field of each in the end.
        let answer = br#"{"a":1,"a":2}"#;
        let body: Value =
            serde_json::from_slice(&with_time_and_nonce(answer, "now", None)).unwrap();
        assert_eq!(body, json!({"a": 2, "server_time": "now", "nonce": null}));
    }

    #[test]
    fn anything_but_an_object_becomes_an_opaque_error() {
        for answer in [
            &b""[..],
            b"[1]",
            b"{\"a\":",
            b"{\"a\":1}}",
            b"internal error",
        ] {
            let body: Value =
                serde_json::from_slice(&with_time_and_nonce(answer, "now", Some("n"))).unwrap();
            assert_eq!(
                body,
                json!({"code": "INTERNAL", "message": "internal error", "server_time": "now", "nonce": "n"}),
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    #[test]
    fn the_nonce_is_an_objects_field_the_last_one_when_repeated() {
        let nonce = |body: &[u8]| nonce_of(body).ok();
        assert_eq!(
            nonce(br#"{"code":"C","nonce":"n-1"}"#),
            Some(Some("n-1".into()))
        );
        assert_eq!(nonce(br#"{"code":"C"}"#), Some(None));
        assert_eq!(nonce(br#" {"nonce":null}"#), Some(None));
        assert_eq!(
            nonce(br#"{"nonce":"a","nonce":"b"}"#),
            Some(Some("b".into()))
        );
        assert_eq!(nonce(br#"["n-1"]"#), Some(None));
        assert_eq!(nonce(b"not json"), Some(None));
        assert!(nonce_of(br#"{"nonce":5}"#).is_err());
        assert!(nonce_of(br#"{"nonce":"a","nonce":7}"#).is_err());
    }

    #[test]
    fn nonces_are_short_printable_strings() {
        assert_eq!(parse_nonce(None).ok(), Some(None));
        assert_eq!(parse_nonce(Some(&Value::Null)).ok(), Some(None));
        let good = json!("abc.DEF-123");
        assert_eq!(
            parse_nonce(Some(&good)).ok(),
            Some(Some("abc.DEF-123".into()))
        );
        for bad in [
            json!(""),
            json!("x".repeat(65)),
            json!("a\nb"),
            json!(5),
            json!("é"),
        ] {
            assert!(parse_nonce(Some(&bad)).is_err(), "{bad}");
        }
    }
}
