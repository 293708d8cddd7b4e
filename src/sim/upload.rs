//! `POST …/v1/market-event/{event_id}/file`: the license upload (koogallery.md §4.3.2).
//!
//! The body is `multipart/form-data` with a JSON part `isvUpdateFileReq`
//! (`{type, characters?, file_name?, sha256?}`) and, for `FILE`, a `file` part. The gateway
//! already holds the whole body (it had to hash it for the signature), so the parts are read
//! from those bytes (see `multipart.rs`).

use actix_web::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::gateway::Reply;
use super::multipart;
use super::records::Upload;
use super::state::{Sim, now_rfc3339};

/// Longest `characters` value (documented limit; larger licenses must go as `FILE`).
const MAX_CHARACTERS: usize = 1024;
/// Longest `event_id`, `file_name` and `sha256` values (documented lengths).
const MAX_EVENT_ID: usize = 64;
const MAX_FIELD: usize = 1024;

/// The `isvUpdateFileReq` part.
#[derive(Debug, Deserialize)]
struct UpdateFileReq {
    #[serde(rename = "type")]
    kind: String,
    characters: Option<String>,
    file_name: Option<String>,
    sha256: Option<String>,
}

/// What the multipart body held.
#[derive(Debug, Default)]
struct Parts<'a> {
    request: Option<&'a [u8]>,
    file: Option<&'a [u8]>,
    file_part_name: Option<String>,
}

/// `400 CBC.0101` with a detail after the documented message.
fn invalid(detail: &str) -> Reply {
    Reply::new(
        StatusCode::BAD_REQUEST,
        json!({"error_code": "CBC.0101", "error_msg": format!("Invalid parameter: {detail}")}),
    )
}

/// Reads the parts we care about; any other part is skipped.
fn read_parts<'a>(content_type: &str, body: &'a [u8]) -> Result<Parts<'a>, String> {
    let mut parts = Parts::default();
    for part in multipart::parse(content_type, body)? {
        match part.name.as_deref() {
            Some("isvUpdateFileReq") => parts.request = Some(part.data),
            Some("file") => {
                parts.file = Some(part.data);
                parts.file_part_name = part.filename;
            }
            _ => {}
        }
    }
    Ok(parts)
}

/// Checks and records an upload.
pub fn upload(sim: &Sim, content_type: Option<&str>, body: &[u8], event_id: &str) -> Reply {
    if event_id.is_empty() || event_id.chars().count() > MAX_EVENT_ID {
        return invalid("event_id must be 1 to 64 characters");
    }
    let Some(content_type) = content_type else {
        return invalid("the body must be multipart/form-data");
    };
    let parts = match read_parts(content_type, body) {
        Ok(parts) => parts,
        Err(detail) => return invalid(&detail),
    };
    let Some(request) = parts.request else {
        return invalid("the isvUpdateFileReq part is required");
    };
    let Ok(req) = serde_json::from_slice::<UpdateFileReq>(request) else {
        return invalid("isvUpdateFileReq must be JSON with a string `type`");
    };
    let upload = match req.kind.as_str() {
        "CHARACTERS" => characters(event_id, req),
        "FILE" => file(event_id, req, parts.file, parts.file_part_name),
        _ => Err(invalid("type must be CHARACTERS or FILE")),
    };
    match upload {
        Ok(upload) => {
            sim.lock().record_upload(upload);
            Reply::new(
                StatusCode::OK,
                json!({"error_code": "CBC.0000", "error_msg": "Success"}),
            )
        }
        Err(reply) => reply,
    }
}

fn characters(event_id: &str, req: UpdateFileReq) -> Result<Upload, Reply> {
    let Some(content) = req.characters.filter(|c| !c.is_empty()) else {
        return Err(invalid("characters is required for type CHARACTERS"));
    };
    if content.chars().count() > MAX_CHARACTERS {
        return Err(invalid(
            "characters is longer than 1024 characters; upload a FILE",
        ));
    }
    Ok(Upload {
        event_id: event_id.to_owned(),
        kind: "CHARACTERS".to_owned(),
        content,
        file_name: None,
        sha256: None,
        delivery: 0,
        time: now_rfc3339(),
    })
}

fn file(
    event_id: &str,
    req: UpdateFileReq,
    file: Option<&[u8]>,
    part_name: Option<String>,
) -> Result<Upload, Reply> {
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return Err(invalid("a non-empty file part is required for type FILE"));
    };
    // The field table names `file_name`; the documented example only sets the file part's
    // filename, so either is accepted.
    let Some(file_name) = req
        .file_name
        .or(part_name)
        .filter(|n| !n.is_empty() && n.chars().count() <= MAX_FIELD)
    else {
        return Err(invalid("file_name is required for type FILE"));
    };
    let Some(declared) = req.sha256.filter(|s| !s.is_empty() && s.len() <= MAX_FIELD) else {
        return Err(invalid("sha256 is required for type FILE"));
    };
    let actual = hex::encode(Sha256::digest(file));
    if !declared.eq_ignore_ascii_case(&actual) {
        return Err(invalid("sha256 does not match the file"));
    }
    Ok(Upload {
        event_id: event_id.to_owned(),
        kind: "FILE".to_owned(),
        content: String::from_utf8_lossy(file).into_owned(),
        file_name: Some(file_name),
        sha256: Some(declared),
        delivery: 0,
        time: now_rfc3339(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CT: &str = "multipart/form-data; boundary=b";

    fn run(body: &[u8]) -> Reply {
        upload(&Sim::new(Vec::new()), Some(CT), body, "ev")
    }

    #[test]
    fn a_well_formed_characters_upload_is_accepted() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"isvUpdateFileReq\"\r\n\r\n\
                    {\"type\":\"CHARACTERS\",\"characters\":\"LIC\"}\r\n--b--\r\n";
        assert_eq!(run(body.as_bytes()).status, StatusCode::OK);
    }

    proptest! {
        #[test]
        fn uploads_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300)) {
            let head = b"--b\r\nContent-Disposition: form-data; name=\"isvUpdateFileReq\"\r\n\r\n";
            let status = run(&[head.as_slice(), &tail].concat()).status;
            prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST);
            let status = run(&tail).status;
            prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST);
        }
    }
}
