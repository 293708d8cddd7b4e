//! The time formats `KooGallery` uses on the wire, all of them UTC.
//!
//! The marketplace is not consistent (spec §7 item 9, §8 item 10): `expireTime` is
//! `yyyyMMddHHmmss` but some examples carry 17 digits, the legacy `timeStamp` is
//! `yyyyMMddHHmmssSSS`, and `getLicenseAsync` sends `2023-10-27 10:30:15 z`. We store
//! `NaiveDateTime` values that are UTC by convention (style rule 1), so every parser here
//! returns UTC and every formatter expects UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

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
}

/// Parses `yyyyMMddHHmmss` (14 digits) or `yyyyMMddHHmmssSSS` (17 digits) as UTC.
///
/// Both lengths are accepted everywhere because the documented 14-digit fields sometimes
/// arrive with 17 digits (`refreshInstance` example, spec §4.2.2).
pub fn parse_compact(s: &str) -> Result<NaiveDateTime, TimeError> {
    compact_fields(s).ok_or_else(|| TimeError::BadCompact(clip(s)))
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
/// with any offset (converted to UTC). Surrounding whitespace is ignored.
pub fn parse_license_time(s: &str) -> Result<NaiveDateTime, TimeError> {
    let trimmed = s.trim();
    let parsed = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        compact_fields(trimmed)
    } else {
        dashed_fields(strip_utc_suffix(trimmed)).or_else(|| {
            DateTime::parse_from_rfc3339(trimmed)
                .ok()
                .map(|t| t.naive_utc())
        })
    };
    parsed.ok_or_else(|| TimeError::BadLicenseTime(clip(s)))
}

/// Formats as RFC 3339 with seconds precision and `Z`, e.g. `2023-10-27T10:30:15Z`.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_milli_opt(h, mi, s, ms)
            .unwrap()
    }

    #[test]
    fn parse_compact_accepts_14_and_17_digits() {
        let cases = [
            ("20200727153156", at(2020, 7, 27, 15, 31, 56, 0)),
            ("20200727073711903", at(2020, 7, 27, 7, 37, 11, 903)),
            ("20240229235959", at(2024, 2, 29, 23, 59, 59, 0)),
            ("00010101000000", at(1, 1, 1, 0, 0, 0, 0)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_compact(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn parse_compact_rejects_bad_inputs() {
        let cases = [
            "",
            "2020072715315",                // 13 digits
            "202007271531560",              // 15 digits
            "20201327153156",               // month 13
            "20230230120000",               // Feb 30
            "20230229120000",               // Feb 29 in a non-leap year
            "20200727246000",               // hour 24
            "20200727155960",               // second 60
            "2020072715315a",               // letter
            "+0200727153156",               // sign
            "2020-07-27 15:31",             // wrong shape
            "２０２００７２７１５３１５６", // full-width digits
        ];
        for input in cases {
            let err = parse_compact(input).unwrap_err();
            assert!(matches!(err, TimeError::BadCompact(_)), "{input}");
        }
    }

    #[test]
    fn errors_name_the_expected_format_and_clip_the_input() {
        let err = parse_compact("nope").unwrap_err().to_string();
        assert!(err.contains("yyyyMMddHHmmss"), "{err}");
        assert!(err.contains("\"nope\""), "{err}");
        let long = "x".repeat(1000);
        let TimeError::BadLicenseTime(echo) = parse_license_time(&long).unwrap_err() else {
            panic!("wrong variant");
        };
        assert_eq!(echo.len(), MAX_ECHO);
    }

    #[test]
    fn formatters_produce_the_documented_shapes() {
        let t = at(2023, 10, 27, 10, 30, 15, 123);
        assert_eq!(format_compact(t), "20231027103015");
        assert_eq!(format_compact_millis(t), "20231027103015123");
        assert_eq!(rfc3339(t), "2023-10-27T10:30:15Z");
        assert_eq!(format_compact(at(1, 2, 3, 4, 5, 6, 0)), "00010203040506");
    }

    #[test]
    fn parse_license_time_accepts_the_documented_and_lenient_forms() {
        let base = at(2023, 10, 27, 10, 30, 15, 0);
        let cases = [
            ("2023-10-27 10:30:15 z", base),
            ("2023-10-27 10:30:15 Z", base),
            ("2023-10-27 10:30:15 UTC", base),
            ("2023-10-27 10:30:15 utc", base),
            ("2023-10-27 10:30:15 GMT", base),
            ("2023-10-27 10:30:15Z", base),
            ("2023-10-27 10:30:15", base),
            ("  2023-10-27 10:30:15 z  ", base),
            ("2023-10-27T10:30:15Z", base),
            ("2023-10-27T10:30:15+08:00", at(2023, 10, 27, 2, 30, 15, 0)),
            ("2023-10-27T10:30:15-01:30", at(2023, 10, 27, 12, 0, 15, 0)),
            (
                "2023-10-27 10:30:15.123 z",
                at(2023, 10, 27, 10, 30, 15, 123),
            ),
            ("20231027103015", base),
            ("20231027103015123", at(2023, 10, 27, 10, 30, 15, 123)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_license_time(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn parse_license_time_rejects_bad_inputs() {
        let cases = [
            "",
            "   ",
            "z",
            "2023-10-27",
            "2023-13-27 10:30:15 z",
            "2023-02-30 10:30:15 z",
            "2023-10-27 25:30:15 z",
            "2023-10-27 10:30:15 +08",
            "2023-10-27 10:30:15 PST",
            "2023-10-27 10:30:15.",
            "2023-10-27 10:30:15.1234567890",
            "2023-1a-27 10:30:15 z",
            "2023/10/27 10:30:15 z",
            "2023102710301",
            "2023-10-27 10:30:15 zz",
            "é2023-10-27 10:30:15",
        ];
        for input in cases {
            let err = parse_license_time(input).unwrap_err();
            assert!(matches!(err, TimeError::BadLicenseTime(_)), "{input}");
        }
    }

    proptest! {
        #[test]
        fn format_compact_round_trips(secs in -62_135_596_800_i64..253_402_300_799_i64) {
            // Years 0001–9999: the range that fits 14 digits.
            let t = DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
            prop_assert_eq!(parse_compact(&format_compact(t)).unwrap(), t);
            prop_assert_eq!(parse_license_time(&rfc3339(t)).unwrap(), t);
        }

        #[test]
        fn format_compact_millis_round_trips(ms in 0_i64..253_402_300_799_999_i64) {
            let t = DateTime::from_timestamp_millis(ms).unwrap().naive_utc();
            prop_assert_eq!(parse_compact(&format_compact_millis(t)).unwrap(), t);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_compact(&s);
            let _ = parse_license_time(&s);
        }
    }
}
