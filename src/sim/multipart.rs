//! A small `multipart/form-data` reader over a body already in memory (RFC 7578 / 2046).
//!
//! The upload API needs only part names, filenames and bytes. `actix-multipart` was the
//! obvious choice but panics on some hostile inputs (a one-character boundary and a short
//! line slice out of range in 0.7), and the simulator must answer any input with a 400
//! rather than a dead worker; so this reader uses checked slicing only.

/// One part of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// `name` of its `Content-Disposition`.
    pub name: Option<String>,
    /// `filename` of its `Content-Disposition`.
    pub filename: Option<String>,
    /// Its bytes.
    pub data: &'a [u8],
}

/// Most parts read; the upload has two, so more means something is wrong.
const MAX_PARTS: usize = 64;

/// The `boundary` parameter of a `multipart/form-data` content type (RFC 2046: 1 to 70
/// characters, optionally quoted).
pub fn boundary_of(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty() && value.len() <= 70).then(|| value.to_owned())
    })
}

/// The first index of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let rest = hay.get(from..)?;
    let first = *needle.first()?;
    rest.iter()
        .enumerate()
        .filter(|(_, b)| **b == first)
        .find(|(i, _)| rest.get(*i..).is_some_and(|r| r.starts_with(needle)))
        .map(|(i, _)| from + i)
}

/// A `name="value"` (or unquoted) parameter of a `Content-Disposition` value.
fn disposition_param(value: &str, wanted: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (name, v) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case(wanted) {
            return None;
        }
        let v = v.trim();
        Some(
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .to_owned(),
        )
    })
}

/// Reads one part's headers and returns its name and filename.
fn part_names(headers: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(headers);
    for line in text.split("\r\n") {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                return (
                    disposition_param(value, "name"),
                    disposition_param(value, "filename"),
                );
            }
        }
    }
    (None, None)
}

/// Splits `body` into its parts; the error says what is malformed.
pub fn parse<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<Part<'a>>, String> {
    let boundary = boundary_of(content_type)
        .ok_or("Content-Type must be multipart/form-data with a boundary")?;
    let delimiter = format!("--{boundary}").into_bytes();
    let next_delimiter = [b"\r\n".as_slice(), &delimiter].concat();
    // A preamble may come before the first delimiter, which then follows a CRLF.
    let mut pos = if body.starts_with(&delimiter) {
        0
    } else {
        find(body, &next_delimiter, 0).ok_or("the opening boundary is missing")? + 2
    };
    let mut parts = Vec::new();
    loop {
        pos += delimiter.len();
        let rest = body.get(pos..).ok_or("the body is truncated")?;
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if parts.len() == MAX_PARTS {
            return Err(format!("more than {MAX_PARTS} parts"));
        }
        // Skip transport padding after the delimiter, up to the end of its line.
        pos = find(body, b"\r\n", pos).ok_or("the body is truncated")? + 2;
        let (headers, content_start) = if body.get(pos..).is_some_and(|r| r.starts_with(b"\r\n")) {
            (&[][..], pos + 2)
        } else {
            let end = find(body, b"\r\n\r\n", pos).ok_or("a part's headers do not end")?;
            (body.get(pos..end).unwrap_or_default(), end + 4)
        };
        let content_end =
            find(body, &next_delimiter, content_start).ok_or("the closing boundary is missing")?;
        let (name, filename) = part_names(headers);
        let data = body.get(content_start..content_end).unwrap_or_default();
        parts.push(Part {
            name,
            filename,
            data,
        });
        pos = content_end + 2;
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    #[test]
    fn parts_are_read_with_names_filenames_and_exact_bytes() {
        let body =
            b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"isvUpdateFileReq\"\r\n\
            Content-Type: application/json\r\n\r\n{\"type\":\"FILE\"}\r\n--XyZ\r\n\
            content-disposition: form-data; name=file; filename=\"a b.lic\"\r\n\r\n\
            line1\r\nline2 --XyZ-not\r\n\r\n--XyZ\r\n\r\nheaderless\r\n--XyZ--\r\nepilogue";
        let parts = parse(CT, body).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name.as_deref(), Some("isvUpdateFileReq"));
        assert_eq!(parts[0].data, b"{\"type\":\"FILE\"}");
        assert_eq!(
            (parts[1].name.as_deref(), parts[1].filename.as_deref()),
            (Some("file"), Some("a b.lic"))
        );
        assert_eq!(parts[1].data, b"line1\r\nline2 --XyZ-not\r\n");
        assert_eq!(
            (parts[2].name.as_deref(), parts[2].data),
            (None, &b"headerless"[..])
        );
    }

    #[test]
    fn boundaries_come_from_the_content_type() {
        assert_eq!(boundary_of(CT).as_deref(), Some("XyZ"));
        assert_eq!(
            boundary_of("Multipart/Form-Data; charset=x; BOUNDARY=\"a b\"").as_deref(),
            Some("a b")
        );
        for bad in [
            "application/json",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/mixed; boundary=x",
        ] {
            assert_eq!(boundary_of(bad), None, "{bad}");
        }
        assert_eq!(boundary_of(&format!("{CT}{}", "x".repeat(70))), None);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for bad in [
            &b""[..],
            b"--XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nno end",
            b"--XyZ\r\nno blank line",
            b"no boundary at all",
        ] {
            assert!(parse(CT, bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(CT, b"--XyZ--").unwrap(), Vec::new());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(
            boundary in "[ -~]{0,4}",
            body in prop::collection::vec(prop::sample::select(b"-\r\nab\"=;:".to_vec()), 0..200),
        ) {
            let ct = format!("multipart/form-data; boundary={boundary}");
            let _ = parse(&ct, &body);
            let framed = [format!("--{boundary}\r\n").as_bytes(), &body].concat();
            let _ = parse(&ct, &framed);
        }
    }
}
