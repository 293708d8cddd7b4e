use super::*;
use proptest::prelude::*;
use std::path::PathBuf;

fn fp(raw: &str) -> Fingerprint {
    Fingerprint::parse(raw).unwrap()
}

#[test]
fn parse_accepts_and_normalises_valid_fingerprints() {
    let cases = [
        (
            "04:7c:16:5e:e3:5d|001b_444a_488b_5cec.||bfebfbff00090672",
            "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672",
        ),
        ("  abc  ", "ABC"),
        ("|||", "|||"),
        ("\t\r\nx\n", "X"),
        ("a b|c", "A B|C"),
    ];
    for (raw, normal) in cases {
        assert_eq!(fp(raw).as_str(), normal, "input {raw:?}");
    }
}

#[test]
fn parse_rejects_invalid_fingerprints() {
    let long = "A".repeat(MAX_LEN + 1);
    let cases = [
        ("", FingerprintError::Empty),
        (" \t\n ", FingerprintError::Empty),
        (
            long.as_str(),
            FingerprintError::TooLong { len: MAX_LEN + 1 },
        ),
        ("AB\nCD", FingerprintError::ControlCharacter { position: 2 }),
        (
            "A\u{0}B",
            FingerprintError::ControlCharacter { position: 1 },
        ),
    ];
    for (raw, error) in cases {
        assert_eq!(Fingerprint::parse(raw), Err(error), "input {raw:?}");
    }
    assert!(Fingerprint::parse(&"a".repeat(MAX_LEN)).is_ok());
}

#[test]
fn length_is_checked_on_the_bytes_as_received() {
    // "ΐ" is 2 bytes and upper-cases to 6: 2560 of them are 5120 bytes as sent, within the bound.
    let greek = "ΐ".repeat(2560);
    let parsed = Fingerprint::parse(&greek).unwrap();
    assert_eq!(parsed.as_str(), greek.to_uppercase());
    assert!(parsed.as_str().len() > MAX_LEN);
    assert_eq!(
        Fingerprint::parse(&format!("{greek}A")),
        Err(FingerprintError::TooLong { len: 5121 })
    );
    // Surrounding whitespace was sent too, so it counts.
    assert_eq!(
        Fingerprint::parse(&format!(" {}", "A".repeat(MAX_LEN))),
        Err(FingerprintError::TooLong { len: 5121 })
    );
}

#[test]
fn errors_read_clearly() {
    assert_eq!(FingerprintError::Empty.to_string(), "fingerprint is empty");
    assert_eq!(
        FingerprintError::TooLong { len: 6000 }.to_string(),
        "fingerprint is 6000 bytes long; at most 5120 bytes are allowed"
    );
}

#[test]
fn sha256_is_over_the_normalised_form() {
    let expected = hex::encode(Sha256::digest(b"AA:BB|S1||"));
    assert_eq!(fp(" aa:bb|s1|| ").sha256_hex(), expected);
    assert_eq!(sha256_hex_of_normalised("aa:bb|s1||\n"), expected);
}

#[test]
fn debug_hides_the_value() {
    let printed = format!("{:?}", fp("04:7C:16:5E:E3:5D|DISK1|BOARD9|CPU7"));
    assert!(printed.starts_with("Fingerprint(sha256:"), "{printed}");
    for secret in ["04:7C", "DISK1", "BOARD9", "CPU7"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    let parts = format!("{:?}", fp("AA|D1,D2|B|C").parts());
    assert!(
        !parts.contains("D1") && parts.contains("disks: 2"),
        "{parts}"
    );
}

#[test]
fn parts_split_lists_and_fill_missing_parts() {
    let parts = fp("aa, bb ,,|d1,|board|cpu|extra").parts();
    assert_eq!(parts.macs, ["AA", "BB"]);
    assert_eq!(parts.disks, ["D1"]);
    assert_eq!(parts.board, "BOARD");
    assert_eq!(parts.cpu, "CPU");

    let short = fp("aa").parts();
    assert_eq!(short.macs, ["AA"]);
    assert!(short.disks.is_empty() && short.board.is_empty() && short.cpu.is_empty());
}

#[test]
fn same_machine_most_needs_three_of_four_known_parts() {
    let base = fp("M1,M2|D1,D2|B1|C1");
    let cases = [
        ("M1,M2|D1,D2|B1|C1", true),
        ("M2,M9|D2|B1|C1", true), // a NIC and a disk replaced: still shares one of each
        ("M9|D1|B1|C1", true),    // all MACs changed: three parts still match
        ("M9|D9|B1|C1", false),   // two parts changed
        ("M1|D1|B9|C9", false),
        ("M1|D1||", false), // empty parts never match
        ("M1|D1|B1|", true),
    ];
    for (other, expected) in cases {
        assert_eq!(
            same_machine_most(&base, &fp(other)),
            expected,
            "other {other}"
        );
        assert_eq!(
            same_machine_most(&fp(other), &base),
            expected,
            "reversed {other}"
        );
    }
    assert!(!same_machine_most(&fp("|||"), &fp("|||")));
    assert!(!same_machine_most(&fp("M1|D1||"), &fp("M1|D1||")));
}

/// Writes `contents` at `root/relative`, creating parent directories.
fn put(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn fake_machine() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    put(&root, "sys/class/net/lo/address", "00:00:00:00:00:00\n");
    put(&root, "sys/class/net/eth1/address", "04:7c:16:5e:e3:5e\n");
    put(&root, "sys/class/net/eth0/address", "04:7c:16:5e:e3:5d\n");
    put(
        &root,
        "sys/class/net/docker0/address",
        "02:42:ac:11:00:01\n",
    );
    put(
        &root,
        "sys/devices/virtual/net/docker0/address",
        "02:42:ac:11:00:01\n",
    );
    put(&root, "sys/class/net/wwan0/address", "00:00:00:00:00:00\n");
    put(
        &root,
        "sys/block/nvme0n1/device/serial",
        "  S4EVNF0M123456   \n",
    );
    put(&root, "sys/block/vda/serial", "virtio-disk-1\n");
    put(&root, "sys/block/loop0/device/serial", "LOOPSERIAL\n");
    put(&root, "sys/block/sda/size", "100\n");
    put(&root, "sys/class/dmi/id/board_serial", "pf2abc12\n");
    let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\
                   model\t\t: 151\nstepping\t: 2\nflags\t\t: fpu vme de pse tsc msr pae mce \
                   cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 \
                   ss ht tm pbe syscall nx\n\nprocessor\t: 1\ncpu family\t: 99\n";
    put(&root, "proc/cpuinfo", cpuinfo);
    (dir, root)
}

#[test]
fn this_machine_reads_a_fake_sysfs_tree() {
    let (_dir, root) = fake_machine();
    fs::create_dir_all(root.join("dev/disk/by-id")).unwrap();
    std::os::unix::fs::symlink(
        "../../sda",
        root.join("dev/disk/by-id/ata-Samsung_SSD_860_EVO_500GB_S3Z2NB0K123456A"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../sda", root.join("dev/disk/by-id/wwn-0x5002538e")).unwrap();

    let printed = this_machine_from(&root);

    assert_eq!(
        printed,
        "04:7C:16:5E:E3:5D,04:7C:16:5E:E3:5E|S3Z2NB0K123456A,S4EVNF0M123456,VIRTIO-DISK-1|\
         PF2ABC12|BFEBFBFF00090672"
    );
    assert!(Fingerprint::parse(&printed).is_ok());
}

#[test]
fn this_machine_leaves_unreadable_parts_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(this_machine_from(dir.path()), "|||");
    assert_eq!(this_machine_from(&dir.path().join("missing")), "|||");

    put(
        dir.path(),
        "sys/class/dmi/id/board_serial",
        "To be filled by O.E.M.\n",
    );
    put(
        dir.path(),
        "proc/cpuinfo",
        "processor\t: 0\nmodel name\t: mystery\n",
    );
    assert_eq!(this_machine_from(dir.path()), "|||");
}

#[test]
fn this_machine_composes_an_arm_midr() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "proc/cpuinfo",
        "processor\t: 0\nBogoMIPS\t: 200.00\nCPU implementer\t: 0x48\n\
         CPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd01\nCPU revision\t: 0\n",
    );
    assert_eq!(this_machine_from(dir.path()), "|||481FD010");
}

#[test]
fn this_machine_strips_separators_and_caps_lists() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "sys/class/dmi/id/board_serial", "a|b,c\u{7}d\n");
    for i in 0..40 {
        put(
            dir.path(),
            &format!("sys/block/sd{i:02}/device/serial"),
            &format!("{i:02}{}", "x".repeat(500)),
        );
    }
    let printed = this_machine_from(dir.path());
    let parsed = fp(&printed);
    assert_eq!(parsed.parts().board, "ABCD");
    assert_eq!(parsed.parts().disks.len(), MAX_ENTRIES);
    assert!(printed.len() < MAX_LEN);
}

#[test]
fn this_machine_on_the_host_never_panics_and_parses() {
    let printed = this_machine();
    assert_eq!(printed.matches('|').count(), 3, "{}", printed.len());
    assert!(Fingerprint::parse(&printed).is_ok());
}

#[test]
fn x86_signature_unfolds_extended_fields() {
    assert_eq!(x86_eax(6, 151, 2), 0x0009_0672);
    assert_eq!(x86_eax(0x19, 0x21, 0), 0x00A2_0F10); // AMD Zen 3: family 0x19, model 0x21
    assert_eq!(x86_eax(5, 4, 3), 0x0000_0543);
}

proptest! {
    #[test]
    fn parse_is_idempotent(raw in "\\PC{0,64}") {
        if let Ok(first) = Fingerprint::parse(&raw) {
            let again = Fingerprint::parse(first.as_str());
            prop_assert_eq!(again, Ok(first));
        }
    }

    #[test]
    fn case_and_surrounding_space_do_not_change_the_hash(
        raw in "[a-zA-Z0-9:|,._ -]{1,64}",
        left in "[ \t\r\n]{0,4}",
        right in "[ \t\r\n]{0,4}",
    ) {
        let variants = [raw.to_lowercase(), raw.to_uppercase(), format!("{left}{raw}{right}")];
        let expected = sha256_hex_of_normalised(&raw);
        for variant in &variants {
            prop_assert_eq!(&sha256_hex_of_normalised(variant), &expected);
            if let Ok(parsed) = Fingerprint::parse(variant) {
                prop_assert_eq!(&parsed.sha256_hex(), &expected);
            }
        }
    }
}
