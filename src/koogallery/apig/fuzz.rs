//! Fuzzing of APIG request signing (our calls to KooGallery, and the simulator's gateway that
//! checks them): the canonical request, `Authorization` and `X-Sdk-Date` parsing. Nothing may
//! panic on any request; canonicalisation is idempotent; whatever [`sign`] signs, [`verify`]
//! accepts, and a changed request it refuses.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::*;

const AK: &str = "fuzz-ak";
const SK: &str = "fuzz-sk";

fn sk_for(ak: &str) -> Option<String> {
    (ak == AK).then(|| SK.to_owned())
}

/// X-Sdk-Date's range: four-digit years.
fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    (-62_135_596_800_i64..253_402_300_799)
        .prop_map(|secs| DateTime::from_timestamp(secs, 0).unwrap())
}

/// Header names as HTTP allows them, other than the ones `sign` sets itself.
fn header_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9-]{1,12}".prop_filter("set by sign", |name| {
        !["host", "x-sdk-date", "authorization"].contains(&name.to_ascii_lowercase().as_str())
    })
}

fn any_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (prop_oneof![header_name(), "\\PC{0,12}"], "\\PC{0,24}"),
        0..6,
    )
}

proptest! {
    #[test]
    fn canonical_request_never_panics_and_its_parts_are_idempotent(
        method in "\\PC{0,8}",
        path in "\\PC{0,40}",
        query in prop::option::of("\\PC{0,60}"),
        headers in any_headers(),
        names in prop::collection::vec("\\PC{0,10}", 0..4),
    ) {
        let _ = canonical_request(&method, &path, query.as_deref(), &headers, &names, "");
        let uri = canonical_uri(&path);
        prop_assert_eq!(canonical_uri(&uri), uri);
        let canonical = canonical_query(query.as_deref());
        prop_assert_eq!(canonical_query(Some(&canonical)), canonical);
    }

    #[test]
    fn verify_never_panics_on_any_request(
        authorization in prop::option::of(prop_oneof![
            "\\PC{0,80}",
            ("\\PC{0,10}", "\\PC{0,30}", "\\PC{0,64}").prop_map(|(a, s, g)| {
                format!("{ALGORITHM} Access={a}, SignedHeaders={s}, Signature={g}")
            }),
        ]),
        date in prop::option::of(prop_oneof!["\\PC{0,20}", any_time().prop_map(format_sdk_date)]),
        headers in any_headers(),
        path in "\\PC{0,30}",
        query in prop::option::of("\\PC{0,30}"),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any_time(),
    ) {
        let mut sent = headers;
        sent.extend(authorization.map(|a| ("Authorization".to_owned(), a)));
        sent.extend(date.map(|d| ("X-Sdk-Date".to_owned(), d)));
        prop_assert!(verify(sk_for, "POST", &path, query.as_deref(), &sent, &body, now).is_err());
    }

    #[test]
    fn what_sign_signs_verify_accepts_and_a_change_it_refuses(
        method in prop::sample::select(vec!["GET", "POST", "put"]),
        segments in prop::collection::vec("\\PC{0,10}", 0..4),
        pairs in prop::collection::vec(("\\PC{1,8}", "\\PC{0,8}"), 0..4),
        headers in prop::collection::vec((header_name(), "[ -~]{0,24}"), 0..5),
        body in prop::collection::vec(any::<u8>(), 0..64),
        signed_at in any_time(),
        skew_secs in -900_i64..=900,
        flip in any::<prop::sample::Index>(),
    ) {
        let base = "https://mkt.example.com/api/mkp-openapi-public/global";
        let mut url = url::Url::parse(base).unwrap();
        url.path_segments_mut().unwrap().extend(&segments);
        for (name, value) in &pairs {
            url.query_pairs_mut().append_pair(name, value);
        }
        let date = format_sdk_date(signed_at);
        let signed = sign(AK, SK, method, &url, &headers, &body, &date);
        let mut sent = headers.clone();
        sent.push(("Host".into(), signed.host));
        sent.push(("X-Sdk-Date".into(), signed.sdk_date));
        sent.push(("Authorization".into(), signed.authorization));
        let now = signed_at + TimeDelta::seconds(skew_secs);
        let check = |body: &[u8]| verify(sk_for, method, url.path(), url.query(), &sent, body, now);
        prop_assert_eq!(check(&body), Ok(AK.to_owned()));
        let mut changed = body.clone();
        if changed.is_empty() {
            changed.push(b'x');
        } else {
            let i = flip.index(changed.len());
            changed[i] ^= 0x20;
        }
        prop_assert_eq!(check(&changed), Err(ApigError::BadSignature));
    }

    #[test]
    fn sdk_dates_round_trip_and_parsing_never_panics(t in any_time(), raw in "\\PC{0,24}") {
        prop_assert_eq!(parse_sdk_date(&format_sdk_date(t)), Some(t));
        let _ = parse_sdk_date(&raw);
    }

    #[test]
    fn authorization_headers_round_trip(
        access in "[A-Za-z0-9]{1,20}",
        names in prop::collection::vec("[a-z0-9-]{1,12}", 1..5),
        signature in "[0-9a-f]{64}",
    ) {
        let header = format!(
            "{ALGORITHM} Access={access}, SignedHeaders={}, Signature={signature}",
            names.join(";")
        );
        let parsed = parse_authorization(&header).unwrap();
        prop_assert_eq!(
            parsed,
            ParsedAuthorization { access, signed_headers: names, signature }
        );
    }
}
