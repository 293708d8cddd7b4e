//! Fuzzing of fingerprint parsing (every client request and `getLicenseAsync` carries one) and
//! of reading this machine's (`koolicense fingerprint`). Nothing may panic; an accepted
//! fingerprint keeps every rule of [`Fingerprint::parse`] and parses to itself again; a refusal
//! names the rule it broke; parts written out are read back.

use proptest::prelude::*;

use super::*;

/// Raw fingerprints: any text, text near the length limit, and the marketplace's shape.
fn raw_fingerprint() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{5100,5130}",
        // Characters whose upper case is longer (ß → SS) or that trimming removes.
        "[ßﬃaé \t\n\u{0}\u{85}\u{2028}|,:0-9A-F]{0,64}",
        parts().prop_map(|p| p.0),
    ]
}

/// A fingerprint written from its parts, and the parts as they should be read back.
fn parts() -> impl Strategy<Value = (String, FingerprintParts)> {
    let value = "[a-zA-Z0-9:._ -]{0,12}";
    (
        prop::collection::vec(value, 0..4),
        prop::collection::vec(value, 0..4),
        value,
        value,
    )
        .prop_map(|(macs, disks, board, cpu)| {
            let raw = format!("{}|{}|{board}|{cpu}", macs.join(","), disks.join(","));
            let entries = |list: &[String]| -> Vec<String> {
                list.iter()
                    .map(|e| e.trim().to_uppercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            };
            let expected = FingerprintParts {
                macs: entries(&macs),
                disks: entries(&disks),
                board: board.trim().to_uppercase(),
                cpu: cpu.trim().to_uppercase(),
            };
            (raw, expected)
        })
}

proptest! {
    #[test]
    fn parse_never_panics_and_keeps_its_rules(raw in raw_fingerprint()) {
        let normal = raw.trim().to_uppercase();
        match Fingerprint::parse(&raw) {
            Ok(fp) => {
                prop_assert_eq!(fp.as_str(), normal.as_str());
                // The bound is on the bytes as sent (upper-casing may lengthen them).
                prop_assert!(!normal.is_empty() && raw.len() <= MAX_LEN);
                prop_assert!(!normal.chars().any(char::is_control));
                prop_assert_eq!(fp.sha256_hex(), sha256_hex_of_normalised(&raw));
                if fp.as_str().len() <= MAX_LEN {
                    prop_assert_eq!(Fingerprint::parse(fp.as_str()), Ok(fp.clone()));
                }
                let _ = fp.parts();
                // Debug shows a hash prefix, never the fingerprint.
                let shown = format!("{fp:?}");
                prop_assert!(!shown.contains(fp.as_str()) || fp.as_str().len() < 8);
            }
            Err(FingerprintError::Empty) => prop_assert!(normal.is_empty()),
            Err(FingerprintError::TooLong { len }) => {
                prop_assert_eq!(len, raw.len());
                prop_assert!(len > MAX_LEN);
            }
            Err(FingerprintError::ControlCharacter { position }) => {
                let c = normal.get(position..).and_then(|rest| rest.chars().next());
                prop_assert!(c.is_some_and(char::is_control));
            }
        }
    }

    #[test]
    fn parts_written_out_are_read_back((raw, expected) in parts()) {
        if let Ok(fp) = Fingerprint::parse(&raw) {
            prop_assert_eq!(fp.parts(), expected);
        }
    }

    #[test]
    fn the_drift_rule_is_symmetric_and_a_full_machine_matches_itself(
        (a, _) in parts(),
        (b, _) in parts(),
    ) {
        if let (Ok(a), Ok(b)) = (Fingerprint::parse(&a), Fingerprint::parse(&b)) {
            prop_assert_eq!(same_machine_most(&a, &b), same_machine_most(&b, &a));
            let p = a.parts();
            let known =
                [!p.macs.is_empty(), !p.disks.is_empty(), !p.board.is_empty(), !p.cpu.is_empty()];
            prop_assert_eq!(same_machine_most(&a, &a), known.iter().filter(|k| **k).count() >= 3);
        }
    }
}

// Each case writes files: fewer cases.
proptest! {
    #![proptest_config(crate::testing::fuzz_config(32))]

    #[test]
    fn any_machine_description_reads_as_a_fingerprint(
        cpuinfo in prop_oneof![
            any::<String>(),
            prop::collection::vec(
                (prop::sample::select(vec![
                    "cpu family", "model", "stepping", "flags", "CPU implementer",
                    "CPU variant", "CPU part", "CPU revision",
                ]), prop_oneof!["[0-9]{1,12}", "0x[0-9a-fA-F]{1,10}", "\\PC{0,20}"]),
                0..9,
            )
            .prop_map(|lines| lines.iter().map(|(k, v)| [*k, "\t: ", v, "\n"].concat()).collect()),
        ],
        board in "\\PC{0,200}",
        address in "\\PC{0,40}",
    ) {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let file = root.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        };
        write("proc/cpuinfo", &cpuinfo);
        write("sys/class/dmi/id/board_serial", &board);
        write("sys/class/net/eth0/address", &address);
        let printed = this_machine_from(root.path());
        prop_assert_eq!(printed.matches('|').count(), 3);
        prop_assert!(Fingerprint::parse(&printed).is_ok() || printed.trim_matches('|').is_empty());
    }
}
