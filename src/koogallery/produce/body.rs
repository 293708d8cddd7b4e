//! Reading a production-interface body up to a limit: a declared `Content-Length` over it is
//! refused before a byte is read, and a chunked body as soon as it passes it, so a caller cannot
//! make us read (or hold) more than the limit. Bodies are decompressed as actix's own extractor
//! would, and the limit applies to the decompressed bytes.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, dev};
use futures_util::StreamExt;

/// Why no body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Longer than the limit (declared or read).
    TooLarge,
    /// A malformed `Content-Length`, a broken transfer or an undecodable encoding.
    Unreadable,
}

/// The whole body, if it is at most `limit` bytes.
pub async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Bytes, Refused> {
    if let Some(declared) = req.headers().get(CONTENT_LENGTH) {
        let length = declared
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or(Refused::Unreadable)?;
        if length > limit as u64 {
            return Err(Refused::TooLarge);
        }
    }
    let mut stream = dev::Decompress::from_headers(payload.into_inner(), req.headers());
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Refused::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(Refused::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
