//! The time formats `KooGallery` uses on the wire, all of them UTC.
//!
//! The marketplace is not consistent (spec §7 item 9, §8 item 10): `expireTime` is
//! `yyyyMMddHHmmss` but some examples carry 17 digits, the legacy `timeStamp` is
//! `yyyyMMddHHmmssSSS`, and `getLicenseAsync` sends `2023-10-27 10:30:15 z`. We store
//! `NaiveDateTime` values that are UTC by convention (style rule 1), so every parser here
//! returns UTC and every formatter expects UTC.
//!
//! Every parser also keeps the result, once in UTC, within years [`EARLIEST_YEAR`] to
//! [`LATEST_YEAR`]: a license file writes its times as four-digit years, so anything later
//! (`9999-12-31T23:59:59-23:59` is in year 10000 in UTC) would yield a license that no
//! verifier can read, and nothing KooGallery sells predates 2000.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};

/// The earliest UTC year accepted from KooGallery.
pub const EARLIEST_YEAR: i32 = 2000;
/// The latest UTC year accepted: the last a license file's `YYYY-MM-DDTHH:MM:SSZ` can hold.
pub const LATEST_YEAR: i32 = 9999;

/// Longest slice of a rejected input kept in a [`TimeError`], so a hostile value cannot
/// bloat logs or error bodies.
const MAX_ECHO: usize = 40;

/// A time string that does not match the format the field is documented to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not a valid `yyyyMMddHHmmss` / `yyyyMMddHHmmssSSS` UTC time.
    #[error("expected a UTC time as yyyyMMddHHmmss or yyyyMMddHHmmssSSS, got {0:?}")]
    BadCompact(String),
    /// Not a valid license time (`yyyy-MM-dd HH:mm:ss z` or one of the lenient forms).
    #[error(
        "expected a UTC time like `2023-10-27 10:30:15 z`, yyyyMMddHHmmss or RFC 3339, got {0:?}"
    )]
    BadLicenseTime(String),
    /// Well-formed, but in UTC outside years [`EARLIEST_YEAR`] to [`LATEST_YEAR`].
    #[error("expected a time between the years 2000 and 9999 in UTC, got {0:?}")]
    OutOfRange(String),
}

/// Parses `yyyyMMddHHmmss` (14 digits) or `yyyyMMddHHmmssSSS` (17 digits) as UTC.
///
/// Both lengths are accepted everywhere because the documented 14-digit fields sometimes
/// arrive with 17 digits (`refreshInstance` example, spec §4.2.2).
pub fn parse_compact(s: &str) -> Result<NaiveDateTime, TimeError> {
    let t = compact_fields(s).ok_or_else(|| TimeError::BadCompact(clip(s)))?;
    in_range(t).ok_or_else(|| TimeError::OutOfRange(clip(s)))
}

/// `t` when its (UTC) year lies within [`EARLIEST_YEAR`]..=[`LATEST_YEAR`].
pub fn in_range(t: NaiveDateTime) -> Option<NaiveDateTime> {
    (EARLIEST_YEAR..=LATEST_YEAR)
        .contains(&t.year())
        .then_some(t)
}

/// Formats as `yyyyMMddHHmmss` (14 digits for years 0–9999), the form of `expireTime`.
pub fn format_compact(t: NaiveDateTime) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// Formats as `yyyyMMddHHmmssSSS` (17 digits), the form of the legacy Scheme-A `timeStamp`.
pub fn format_compact_millis(t: NaiveDateTime) -> String {
    t.format("%Y%m%d%H%M%S%3f").to_string()
}

/// Parses the `effectiveTime` / `expireTime` of `getLicenseAsync` as UTC.
///
/// The documented form is `2023-10-27 10:30:15 z`, but it is documented once, by example,
/// and unlike every other field; the spec recommends parsing leniently (§7 item 9). So this
/// also accepts the suffixes ` Z`, ` UTC`, ` GMT`, `Z` or none (all meaning UTC), a `T`
/// instead of the space, fractional seconds, the 14/17-digit compact forms, and RFC 3339
/// with any offset (converted to UTC). Surrounding whitespace is ignored. The range is checked
/// after the conversion to UTC.
pub fn parse_license_time(s: &str) -> Result<NaiveDateTime, TimeError> {
    let trimmed = s.trim();
    let parsed = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        compact_fields(trimmed)
    } else {
        dashed_fields(strip_utc_suffix(trimmed)).or_else(|| {
            DateTime::parse_from_rfc3339(trimmed)
                .ok()
                .and_then(|t| writable(t.naive_utc()))
        })
    };
    let t = parsed.ok_or_else(|| TimeError::BadLicenseTime(clip(s)))?;
    in_range(t).ok_or_else(|| TimeError::OutOfRange(clip(s)))
}

/// An RFC 3339 time as one we can store and write again: a leap second (`:60`, which chrono
/// keeps as a 59th second past 10⁹ ns and writes back as `:60`, a form `parse_compact`
/// refuses) reads as the start of the next second, as a POSIX clock counts it. An offset that
/// moved the time out of the four-digit years is left to [`in_range`] to refuse.
fn writable(t: NaiveDateTime) -> Option<NaiveDateTime> {
    use chrono::{TimeDelta, Timelike};
    match t.nanosecond().checked_sub(1_000_000_000) {
        Some(nanos) => t
            .with_nanosecond(nanos)?
            .checked_add_signed(TimeDelta::seconds(1)),
        None => Some(t),
    }
}

/// Formats as RFC 3339 with seconds precision and `Z`, e.g. `2023-10-27T10:30:15Z`.
pub fn rfc3339(t: NaiveDateTime) -> String {
    // Not `format("%Y-%m-%dT…")`: that parses its pattern on every call, and every signed answer
    // makes one.
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The digits of `s` at `from..from + len` as a number, or `None` if anything there is not an
/// ASCII digit (`str::parse` alone would also accept a leading `+`).
fn digits(s: &str, from: usize, len: usize) -> Option<u32> {
    let field = s.get(from..from + len)?;
    if field.bytes().all(|b| b.is_ascii_digit()) {
        field.parse().ok()
    } else {
        None
    }
}

/// Builds a date-time from calendar fields; `None` for impossible dates such as Feb 30.
fn build(ymd: (u32, u32, u32), hms: (u32, u32, u32), nanos: u32) -> Option<NaiveDateTime> {
    let year = i32::try_from(ymd.0).ok()?;
    NaiveDate::from_ymd_opt(year, ymd.1, ymd.2)?.and_hms_nano_opt(hms.0, hms.1, hms.2, nanos)
}

fn compact_fields(s: &str) -> Option<NaiveDateTime> {
    let millis = match s.len() {
        14 => 0,
        17 => digits(s, 14, 3)?,
        _ => return None,
    };
    build(
        (digits(s, 0, 4)?, digits(s, 4, 2)?, digits(s, 6, 2)?),
        (digits(s, 8, 2)?, digits(s, 10, 2)?, digits(s, 12, 2)?),
        millis * 1_000_000,
    )
}

/// `yyyy-MM-dd HH:mm:ss[.f]` with a space or `T` between date and time, nothing after.
fn dashed_fields(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let separators_ok = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b' ' | b'T' | b't'))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !separators_ok {
        return None;
    }
    let nanos = match s.get(19..)? {
        "" => 0,
        rest => fraction_nanos(rest.strip_prefix('.')?)?,
    };
    build(
        (digits(s, 0, 4)?, digits(s, 5, 2)?, digits(s, 8, 2)?),
        (digits(s, 11, 2)?, digits(s, 14, 2)?, digits(s, 17, 2)?),
        nanos,
    )
}

/// `1`–`9` fractional-second digits as nanoseconds.
fn fraction_nanos(frac: &str) -> Option<u32> {
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = frac.parse().ok()?;
    Some(value * 10u32.pow(9 - frac.len() as u32))
}

/// Removes a trailing zone marker that means UTC (`z`, `Z`, `UTC`, `GMT`, any case, with or
/// without a space before it).
fn strip_utc_suffix(s: &str) -> &str {
    for suffix in ["utc", "gmt", "z"] {
        let Some(cut) = s.len().checked_sub(suffix.len()) else {
            continue;
        };
        if let (Some(head), Some(tail)) = (s.get(..cut), s.get(cut..)) {
            if tail.eq_ignore_ascii_case(suffix) {
                return head.trim_end();
            }
        }
    }
    s
}

fn clip(s: &str) -> String {
    s.chars().take(MAX_ECHO).collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod fuzz;
