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
    let nonce = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(fields)) => parse_nonce(fields.get("nonce"))?,
        _ => None,
    };
    req.set_payload(Payload::from(body));
    Ok(nonce)
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
    let fields = match to_bytes_limited(response.into_body(), MAX_ANSWER_BYTES).await {
        Ok(Ok(bytes)) => serde_json::from_slice::<Map<String, Value>>(&bytes).ok(),
        _ => None,
    };
    let mut fields = fields.unwrap_or_else(|| {
        tracing::error!("a client-API answer is not a JSON object; answering an opaque error");
        let mut opaque = Map::new();
        opaque.insert("code".into(), "INTERNAL".into());
        opaque.insert("message".into(), "internal error".into());
        opaque
    });
    let server_time = crate::domain::times::rfc3339(crate::licensing::now_seconds());
    fields.insert("server_time".into(), Value::String(server_time));
    fields.insert("nonce".into(), nonce.map_or(Value::Null, Value::String));
    let body = serde_json::to_vec(&fields).unwrap_or_default();
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
mod tests {
    use serde_json::json;

    use super::*;

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
