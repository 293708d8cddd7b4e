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
