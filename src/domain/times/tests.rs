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
        ("20000101000000", at(2000, 1, 1, 0, 0, 0, 0)),
        ("99991231235959999", at(9999, 12, 31, 23, 59, 59, 999)),
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
    assert_eq!(rfc3339(at(1, 2, 3, 4, 5, 6, 0)), "0001-02-03T04:05:06Z");
}

#[test]
fn times_outside_the_years_2000_to_9999_in_utc_are_out_of_range() {
    for input in ["00010101000000", "19991231235959999"] {
        let err = parse_compact(input).unwrap_err();
        assert!(matches!(err, TimeError::OutOfRange(_)), "{input}: {err}");
    }
    for input in [
        "9999-12-31T23:59:59-23:59", // 10000-01-01T23:58:59Z
        "9999-12-31T23:00:00-01:00",
        "2000-01-01T00:00:00+00:01", // 1999-12-31T23:59:00Z
        "1999-12-31 23:59:59 z",
        "0000-01-01T00:00:00Z",
        "19991231235959",
    ] {
        let err = parse_license_time(input).unwrap_err();
        assert!(matches!(err, TimeError::OutOfRange(_)), "{input}: {err}");
        assert!(err.to_string().contains("2000 and 9999"), "{err}");
    }
    let edges = [
        ("9999-12-31T23:59:59+23:59", at(9999, 12, 31, 0, 0, 59, 0)),
        ("1999-12-31T23:59:59-00:01", at(2000, 1, 1, 0, 0, 59, 0)),
        ("2000-01-01 00:00:00 z", at(2000, 1, 1, 0, 0, 0, 0)),
        (
            "9999-12-31 23:59:59.999 z",
            at(9999, 12, 31, 23, 59, 59, 999),
        ),
    ];
    for (input, want) in edges {
        assert_eq!(parse_license_time(input).unwrap(), want, "{input}");
    }
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
    fn format_compact_round_trips(secs in 946_684_800_i64..=253_402_300_799_i64) {
        // Years 2000–9999: the accepted range.
        let t = DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
        prop_assert_eq!(parse_compact(&format_compact(t)).unwrap(), t);
        prop_assert_eq!(parse_license_time(&rfc3339(t)).unwrap(), t);
    }

    #[test]
    fn format_compact_millis_round_trips(ms in 946_684_800_000_i64..=253_402_300_799_999_i64) {
        let t = DateTime::from_timestamp_millis(ms).unwrap().naive_utc();
        prop_assert_eq!(parse_compact(&format_compact_millis(t)).unwrap(), t);
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        let _ = parse_compact(&s);
        let _ = parse_license_time(&s);
    }
}

/// A key store with one fixed key, for the license round trip below.
static KEYS: std::sync::LazyLock<(tempfile::TempDir, crate::keys::KeyStore)> =
    std::sync::LazyLock::new(|| {
        let dir = tempfile::tempdir().unwrap();
        let (keys, _) = crate::keys::KeyStore::load_or_generate_dev(dir.path()).unwrap();
        (dir, keys)
    });

/// Issues an instance license running from `start` to `end`, as `getLicenseAsync` does, and
/// verifies it at `start`: the payload must carry both times, to the second.
fn license_round_trip(start: NaiveDateTime, end: NaiveDateTime) -> Result<(), TestCaseError> {
    use crate::licensing::{LicenseTerms, issue, whole_seconds};
    let fingerprint = "AA|BB|CC|DD";
    let terms = LicenseTerms {
        source: crate::license_file::LicenseSource::Instance,
        code: None,
        instance_id: Some("inst-1".into()),
        order_id: Some("CS1".into()),
        product_id: None,
        fingerprint_sha256: crate::domain::fingerprint::sha256_hex_of_normalised(fingerprint),
        seats: 1,
        not_before: whole_seconds(start),
        expires_at: Some(whole_seconds(end)),
    };
    let file = issue(&KEYS.1, &"lic-1".into(), 1, &terms, whole_seconds(start))
        .map_err(|e| TestCaseError::fail(format!("not issued: {e}")))?;
    let payload = crate::license_file::verify(
        &file,
        &KEYS.1,
        Some(fingerprint),
        whole_seconds(start).and_utc(),
        std::time::Duration::ZERO,
    )
    .map_err(|e| TestCaseError::fail(format!("{start} .. {end}: {e}")))?;
    prop_assert_eq!(payload.not_before.naive_utc(), whole_seconds(start));
    prop_assert_eq!(
        payload.expires_at.map(|t| t.naive_utc()),
        Some(whole_seconds(end))
    );
    Ok(())
}

/// Time strings of every accepted shape, with years, days and offsets around the edges.
fn time_strings() -> impl Strategy<Value = String> {
    // Edges are drawn often: a year boundary crossed by an offset is where bugs hide.
    let year = prop_oneof![
        4 => Just(9999),
        1 => Just(2000),
        1 => 1998..=2001_i32,
        1 => 0..=9999_i32,
    ];
    let month = prop_oneof![3 => Just(12), 1 => Just(1), 1 => 1..=12_u32];
    let day = prop_oneof![3 => Just(31), 1 => Just(1), 1 => 1..=31_u32];
    let hour = prop_oneof![2 => Just(23), 1 => Just(0), 1 => 0..=23_u32];
    let date = (year, month, day);
    let time = (hour.clone(), 0..=59_u32, 0..=59_u32, 0..=999_u32);
    let offset = (any::<bool>(), hour, 0..=59_u32);
    let suffix = prop::sample::select(vec![" z", " Z", " UTC", "Z", "", " gmt"]);
    (date, time, offset, suffix, 0..8_u8).prop_map(
        |((y, mo, d), (h, mi, s, ms), (east, oh, om), suffix, shape)| match shape {
            0 => format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}"),
            1 => format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}{ms:03}"),
            2 => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{suffix}"),
            3 => format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03}{suffix}"),
            _ => {
                let sign = if east { '+' } else { '-' };
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{sign}{oh:02}:{om:02}")
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_accepted_time_yields_a_license_that_verifies(s in time_strings()) {
        if let Ok(t) = parse_license_time(&s) {
            license_round_trip(t, t)?;
        }
        if let Ok(t) = parse_compact(&s) {
            license_round_trip(t, t)?;
        }
    }

    #[test]
    fn accepted_times_lie_within_the_range(s in time_strings()) {
        for t in [parse_license_time(&s).ok(), parse_compact(&s).ok()].into_iter().flatten() {
            prop_assert!((EARLIEST_YEAR..=LATEST_YEAR).contains(&t.year()), "{s} -> {t}");
        }
    }
}
