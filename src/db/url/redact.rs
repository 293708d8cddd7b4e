//! Finding the passwords in a PostgreSQL URL, to keep them out of logs and error messages.
//!
//! libpq takes a password from the userinfo (`postgres://user:PASSWORD@host`) and from the
//! `password` query parameter; `sslpassword` unlocks a client key. libpq percent-decodes
//! parameter names, so names are compared decoded, and case-insensitively, so that no spelling
//! slips through. Where the URL is ambiguous, more is masked rather than less.

use std::ops::Range;

use percent_encoding::percent_decode_str;

/// What replaces a password.
const MASK: &str = "****";
/// Query parameters whose values are secrets.
const SECRET_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

/// The passwords of one URL.
pub(super) struct Passwords<'a> {
    url: &'a str,
    /// Byte ranges of `url` that hold a password: sorted, disjoint, non-empty.
    ranges: Vec<Range<usize>>,
}

impl<'a> Passwords<'a> {
    pub(super) fn of(url: &'a str) -> Self {
        let start = url.find("://").map_or(0, |i| i + 3);
        let mut ranges = Vec::new();
        // libpq looks for the userinfo before the first `/`. The last `@` there ends it, so a
        // password with an unencoded `@` is masked whole.
        let authority_end = url[start..].find('/').map_or(url.len(), |i| start + i);
        if let Some(at) = url[start..authority_end].rfind('@').map(|i| start + i) {
            if let Some(colon) = url[start..at].find(':') {
                ranges.push(start + colon + 1..at);
            }
        }
        // The first `?` may sit inside a password (libpq reads `u:a?b@h` as password `a?b`);
        // the userinfo range above then covers it and the ranges are merged below.
        if let Some(question) = url[start..].find('?').map(|i| start + i) {
            let mut offset = question + 1;
            for part in url[offset..].split('&') {
                let (name, value_start) = match part.find('=') {
                    Some(eq) => (&part[..eq], offset + eq + 1),
                    None => (part, offset + part.len()),
                };
                let name = percent_decode_str(name).decode_utf8_lossy();
                if SECRET_PARAMETERS
                    .iter()
                    .any(|secret| name.trim().eq_ignore_ascii_case(secret))
                {
                    ranges.push(value_start..offset + part.len());
                }
                offset += part.len() + 1;
            }
        }
        Self {
            url,
            ranges: merged(ranges),
        }
    }

    /// The URL with each password replaced by [`MASK`].
    pub(super) fn redacted(&self) -> String {
        let mut out = String::with_capacity(self.url.len());
        let mut copied = 0;
        for range in &self.ranges {
            out.push_str(&self.url[copied..range.start]);
            out.push_str(MASK);
            copied = range.end;
        }
        out.push_str(&self.url[copied..]);
        out
    }

    /// `text` with each password, as written in the URL and percent-decoded, replaced by
    /// [`MASK`]. Longest first, so that a password containing another is masked whole.
    pub(super) fn scrub(&self, text: &str) -> String {
        let mut secrets: Vec<String> = Vec::new();
        for range in &self.ranges {
            let raw = &self.url[range.clone()];
            secrets.push(raw.to_owned());
            secrets.push(percent_decode_str(raw).decode_utf8_lossy().into_owned());
        }
        secrets.retain(|secret| !secret.is_empty());
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        secrets
            .iter()
            .fold(text.to_owned(), |text, secret| text.replace(secret, MASK))
    }
}

/// `ranges` sorted, overlapping ones joined, empty ones dropped.
fn merged(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.retain(|range| !range.is_empty());
    ranges.sort_by_key(|range| range.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match out.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => out.push(range),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Passwords;

    #[test]
    fn every_password_of_a_url_is_masked() {
        for (url, redacted) in [
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://app:hunter2@db:5432/k",
                "postgres://app:****@db:5432/k",
            ),
            (
                "postgres://u@h:1/db?password=hunter2",
                "postgres://u@h:1/db?password=****",
            ),
            (
                "postgres://u@h/db?PassWord=hunter2",
                "postgres://u@h/db?PassWord=****",
            ),
            (
                "postgres://u@h/db?pass%77ord=hunter2",
                "postgres://u@h/db?pass%77ord=****",
            ),
            (
                "postgres://u@h/db?sslmode=require&password=hun%74er2&connect_timeout=3",
                "postgres://u@h/db?sslmode=require&password=****&connect_timeout=3",
            ),
            (
                "postgres://u@h/db?sslpassword=hunter2",
                "postgres://u@h/db?sslpassword=****",
            ),
            (
                "postgres://u@h?password=hunter2",
                "postgres://u@h?password=****",
            ),
            ("postgres://u:hun@ter2@h/db", "postgres://u:****@h/db"),
            ("postgres://u:hun?ter2@h/db", "postgres://u:****@h/db"),
            (
                "postgres://h?password=hun@ter2",
                "postgres://h?password=****",
            ),
            (
                "postgres://u:a@h1:5432,h2:5433/db?password=b",
                "postgres://u:****@h1:5432,h2:5433/db?password=****",
            ),
            (
                "postgres://u:@h/db?password=",
                "postgres://u:@h/db?password=",
            ),
        ] {
            assert_eq!(Passwords::of(url).redacted(), redacted, "{url}");
        }
    }

    #[test]
    fn scrub_masks_the_passwords_as_written_and_decoded() {
        let passwords = Passwords::of("postgres://u:hun%20ter2@h/db?password=se%63ret");
        let text = "bad \"hun%20ter2\", \"hun ter2\", \"se%63ret\" and \"secret\" for u@h";
        assert_eq!(
            passwords.scrub(text),
            "bad \"****\", \"****\", \"****\" and \"****\" for u@h"
        );
    }
}
