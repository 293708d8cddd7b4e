//! The multipart body of the license upload (spec §4.3.2), built as bytes.
//!
//! We build it ourselves rather than with reqwest's streaming multipart because the APIG
//! signature covers the SHA-256 of the body: the bytes we hash must be exactly the bytes sent.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Longest license sent inline as `type=CHARACTERS`; anything longer goes as a `FILE`.
pub const MAX_CHARACTERS: usize = 1024;

/// A ready-to-send multipart body.
pub(super) struct Multipart {
    /// `multipart/form-data; boundary=…`
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The upload body for `license_text`: an `isvUpdateFileReq` JSON part, plus a `file` part
/// when the license is longer than [`MAX_CHARACTERS`].
pub(super) fn upload_body(event_id: &str, license_text: &str) -> Multipart {
    let mut parts: Vec<Part> = Vec::with_capacity(2);
    if license_text.chars().count() <= MAX_CHARACTERS {
        let req = serde_json::json!({ "type": "CHARACTERS", "characters": license_text });
        parts.push(Part::json("isvUpdateFileReq", &req));
    } else {
        let file_name = file_name(event_id);
        let sha256 = hex::encode(Sha256::digest(license_text.as_bytes()));
        let req = serde_json::json!({ "type": "FILE", "file_name": file_name, "sha256": sha256 });
        parts.push(Part::json("isvUpdateFileReq", &req));
        parts.push(Part {
            disposition: format!("form-data; name=\"file\"; filename=\"{file_name}\""),
            content_type: "application/octet-stream",
            data: license_text.as_bytes().to_vec(),
        });
    }
    // A 128-bit random boundary cannot plausibly occur in the content, but checking is cheap.
    let boundary = loop {
        let candidate = random_boundary();
        let needle = candidate.as_bytes();
        if !parts
            .iter()
            .any(|p| p.data.windows(needle.len()).any(|w| w == needle))
        {
            break candidate;
        }
    };
    let mut body = Vec::new();
    for part in &parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(format!("Content-Disposition: {}\r\n", part.disposition).as_bytes());
        body.extend_from_slice(format!("Content-Type: {}\r\n\r\n", part.content_type).as_bytes());
        body.extend_from_slice(&part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Multipart {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    }
}

/// `license-{event_id}.lic`, with anything outside `[A-Za-z0-9._-]` replaced so the name can
/// never break out of its quoted header parameter.
pub fn file_name(event_id: &str) -> String {
    let safe: String = event_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("license-{safe}.lic")
}

struct Part {
    disposition: String,
    content_type: &'static str,
    data: Vec<u8>,
}

impl Part {
    fn json(name: &str, value: &serde_json::Value) -> Self {
        Self {
            disposition: format!("form-data; name=\"{name}\""),
            content_type: "application/json",
            data: value.to_string().into_bytes(),
        }
    }
}

fn random_boundary() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("koolicense-{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_licenses_go_inline_without_a_file_part() {
        let m = upload_body("E1", "LICENSE");
        let text = String::from_utf8(m.body).unwrap_or_default();
        assert!(text.contains(r#"{"type":"CHARACTERS","characters":"LICENSE"}"#));
        assert!(!text.contains("name=\"file\""));
        assert!(
            m.content_type
                .starts_with("multipart/form-data; boundary=koolicense-")
        );
    }

    #[test]
    fn long_licenses_go_as_a_file_with_their_sha256() {
        let license = "x".repeat(MAX_CHARACTERS + 1);
        let m = upload_body("ev/1\"", &license);
        let text = String::from_utf8(m.body).unwrap_or_default();
        let sha = hex::encode(Sha256::digest(license.as_bytes()));
        assert!(text.contains(&format!(r#""sha256":"{sha}""#)));
        assert!(text.contains("filename=\"license-ev_1_.lic\""));
        assert!(text.contains(&format!("\r\n\r\n{license}\r\n")));
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let license = "授".repeat(MAX_CHARACTERS);
        let text = String::from_utf8(upload_body("E", &license).body).unwrap_or_default();
        assert!(text.contains("CHARACTERS"));
    }
}
