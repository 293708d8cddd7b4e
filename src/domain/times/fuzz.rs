//! Fuzzing of KooGallery's time formats (`expireTime`, `effectiveTime`, the legacy
//! `timeStamp`). Nothing may panic, a refusal echoes a bounded slice of the input, and every
//! time a parser accepts can be written in our formats and read back unchanged.

use chrono::{NaiveDate, Timelike};
use proptest::prelude::*;

use super::*;

/// Calendar fields, valid or not, in the layouts KooGallery uses.
fn field_text() -> impl Strategy<Value = String> {
    (
        // The ends of the four-digit years, where an offset moves a time out of them.
        prop_oneof![0_u32..10_000, Just(0), Just(9999)],
        prop_oneof![(0_u32..14, 0_u32..33), Just((1, 1)), Just((12, 31))],
        0_u32..25,
        0_u32..61,
        0_u32..61,
        prop::option::of("[0-9]{1,10}"),
        prop::sample::select(vec![
            "", " z", " Z", " UTC", " gmt", "Z", "+08:00", "-23:59", "+24:00", " CST",
        ]),
        prop::sample::select(vec![" ", "T", "t", "_"]),
    )
        .prop_map(|(y, (mo, d), h, mi, s, frac, zone, sep)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{zone}")
        })
}

fn compact_text() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{12,18}", "[0-9 +-]{14}", "[0-9]{14}[.,][0-9]{3}"]
}

/// What a time written by us reads back as: RFC 3339 seconds, and the 14-digit compact form.
fn round_trips(t: NaiveDateTime) -> Result<(), TestCaseError> {
    let whole = t.with_nanosecond(0).unwrap();
    prop_assert_eq!(
        parse_license_time(&rfc3339(t)),
        Ok(whole),
        "rfc3339 {}",
        rfc3339(t)
    );
    prop_assert_eq!(
        parse_compact(&format_compact(t)),
        Ok(whole),
        "compact {}",
        format_compact(t)
    );
    Ok(())
}

/// What fuzzing found, kept as cases: RFC 3339 times our formats could not write back.
#[test]
fn leap_seconds_and_offsets_past_the_four_digit_years_are_handled() {
    let next_minute = NaiveDate::from_ymd_opt(2026, 6, 30)
        .unwrap()
        .and_hms_opt(0, 0, 0);
    assert_eq!(parse_license_time("2026-06-29T23:59:60Z").ok(), next_minute);
    round_trips(parse_license_time("2000-01-01 00:00:60Z").unwrap()).unwrap();
    for outside in ["9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00+00:01"] {
        assert!(
            matches!(
                parse_license_time(outside),
                Err(TimeError::BadLicenseTime(_) | TimeError::OutOfRange(_))
            ),
            "{outside}"
        );
    }
}

proptest! {
    #[test]
    fn parsers_never_panic_and_echo_little(text in prop_oneof![any::<String>(), "\\PC{0,400}"]) {
        for result in [parse_compact(&text), parse_license_time(&text)] {
            match result {
                Ok(t) => round_trips(t)?,
                Err(
                    TimeError::BadCompact(echo)
                    | TimeError::BadLicenseTime(echo)
                    | TimeError::OutOfRange(echo),
                ) => {
                    prop_assert!(echo.chars().count() <= MAX_ECHO);
                }
            }
        }
    }

    #[test]
    fn every_accepted_license_time_is_writable(text in prop_oneof![field_text(), compact_text()]) {
        if let Ok(t) = parse_license_time(&text) {
            round_trips(t)?;
        }
        if let Ok(t) = parse_compact(&text) {
            round_trips(t)?;
        }
    }

    #[test]
    fn the_documented_form_is_read_exactly_when_its_date_exists(
        (y, mo, d, h, mi, s) in
            (0_u32..10_000, 0_u32..14, 0_u32..33, 0_u32..25, 0_u32..61, 0_u32..61),
    ) {
        let text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} z");
        // Read exactly when the date exists and lies in the years KooGallery's times may use.
        let expected = NaiveDate::from_ymd_opt(i32::try_from(y).unwrap(), mo, d)
            .and_then(|date| date.and_hms_opt(h, mi, s))
            .and_then(crate::domain::times::in_range);
        prop_assert_eq!(parse_license_time(&text).ok(), expected);
        let compact = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}");
        prop_assert_eq!(parse_compact(&compact).ok(), expected);
    }
}
