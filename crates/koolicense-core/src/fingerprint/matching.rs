//! The hardware-drift rule of `KOOLICENSE_FINGERPRINT_MATCH=most`: two fingerprints are the same
//! machine when three of their four parts match.
//!
//! A comparison is linear in the fingerprints' lengths and its set work is bounded: only the
//! first [`MAX_MATCHED_ENTRIES`] MACs and disk serials of each fingerprint take part (in the order
//! sent; `koolicense fingerprint` sends at most that many, sorted), and those are compared as
//! sorted sets. A client that lists thousands of MACs costs no more than one that lists 16.

use super::Fingerprint;

/// MACs, and disk serials, of one fingerprint that the drift rule looks at: the first ones
/// listed. Real machines report a handful; [`super::this_machine`] caps its lists at the same 16.
pub const MAX_MATCHED_ENTRIES: usize = 16;

/// What the drift rule compares of one normalised fingerprint, borrowed from it.
#[derive(Clone, PartialEq, Eq)]
pub struct MachineParts<'a> {
    /// The first [`MAX_MATCHED_ENTRIES`] non-empty MACs, sorted, without duplicates.
    macs: Vec<&'a str>,
    /// The same of the disk serials.
    disks: Vec<&'a str>,
    /// Empty when unknown.
    board: &'a str,
    /// Empty when unknown.
    cpu: &'a str,
}

impl<'a> MachineParts<'a> {
    /// The parts of `fingerprint`.
    pub fn of(fingerprint: &'a Fingerprint) -> Self {
        Self::of_normalised(fingerprint.as_str())
    }

    /// The parts of a fingerprint already in normal form (trimmed and upper-cased), such as one
    /// stored from [`Fingerprint::as_str`]: it is not normalised or length-checked again.
    pub fn of_normalised(normal: &'a str) -> Self {
        let mut fields = normal.split('|').map(str::trim);
        let macs = capped_set(fields.next());
        let disks = capped_set(fields.next());
        let board = fields.next().unwrap_or_default();
        let cpu = fields.next().unwrap_or_default();
        Self {
            macs,
            disks,
            board,
            cpu,
        }
    }

    /// The drift rule: at least three of four parts match. MACs match when the two share any
    /// MAC, disks when they share any serial, board and CPU when equal. Empty parts never match,
    /// so a machine that reports little cannot match by accident.
    pub fn same_machine(&self, other: &MachineParts<'_>) -> bool {
        let equal_known = |x: &str, y: &str| !x.is_empty() && x == y;
        let matches = [
            share_any(&self.macs, &other.macs),
            share_any(&self.disks, &other.disks),
            equal_known(self.board, other.board),
            equal_known(self.cpu, other.cpu),
        ];
        matches.iter().filter(|matched| **matched).count() >= 3
    }
}

impl std::fmt::Debug for MachineParts<'_> {
    // Counts only: the parts are hardware identifiers and as secret as the fingerprint.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineParts")
            .field("macs", &self.macs.len())
            .field("disks", &self.disks.len())
            .field("board", &!self.board.is_empty())
            .field("cpu", &!self.cpu.is_empty())
            .finish()
    }
}

/// [`MachineParts::same_machine`] of two fingerprints.
pub fn same_machine_most(a: &Fingerprint, b: &Fingerprint) -> bool {
    MachineParts::of(a).same_machine(&MachineParts::of(b))
}

/// The first [`MAX_MATCHED_ENTRIES`] non-empty, trimmed entries of a `,`-separated list, sorted
/// and de-duplicated.
fn capped_set(field: Option<&str>) -> Vec<&str> {
    let mut entries: Vec<&str> = field
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .take(MAX_MATCHED_ENTRIES)
        .collect();
    entries.sort_unstable();
    entries.dedup();
    entries
}

/// Whether two sorted lists share an entry: one merge pass.
fn share_any(a: &[&str], b: &[&str]) -> bool {
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fp(raw: &str) -> Fingerprint {
        Fingerprint::parse(raw).unwrap()
    }

    /// The rule as first written (every entry, pairwise): the reference for normal fingerprints.
    fn reference(a: &Fingerprint, b: &Fingerprint) -> bool {
        let (a, b) = (a.parts(), b.parts());
        let shares_any = |x: &[String], y: &[String]| x.iter().any(|entry| y.contains(entry));
        let equal_known = |x: &str, y: &str| !x.is_empty() && x == y;
        let matches = [
            shares_any(&a.macs, &b.macs),
            shares_any(&a.disks, &b.disks),
            equal_known(&a.board, &b.board),
            equal_known(&a.cpu, &b.cpu),
        ];
        matches.iter().filter(|matched| **matched).count() >= 3
    }

    /// Lists of up to 16 entries from a small alphabet, so that fingerprints often share some.
    fn list() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof!["[ab]{1,2}", Just(String::new()), Just(" a ".into())],
            0..=16,
        )
        .prop_map(|entries| entries.join(","))
    }

    fn fingerprint() -> impl Strategy<Value = String> {
        (list(), list(), "[xy]{0,1}", "[xy]{0,1}", 1..=5usize).prop_map(
            |(macs, disks, board, cpu, fields)| {
                let parts = [macs, disks, board, cpu, "extra".to_owned()];
                parts[..fields].join("|")
            },
        )
    }

    proptest! {
        #[test]
        fn normal_fingerprints_match_as_before(a in fingerprint(), b in fingerprint()) {
            let (a, b) = (fp(&format!("{a}.")), fp(&format!("{b}.")));
            prop_assert_eq!(same_machine_most(&a, &b), reference(&a, &b));
        }
    }

    #[test]
    fn only_the_first_sixteen_entries_of_a_list_count() {
        // 1,700 two-character "MACs" in base 36: 00, 01, ..., 0F (the 16th), 0G, ...
        const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mac = |n: usize| String::from_utf8(vec![DIGITS[n / 36 % 36], DIGITS[n % 36]]).unwrap();
        let many: Vec<String> = (0..1700).map(mac).collect();
        let fingerprint = fp(&format!("{}|D1|B1|C1", many.join(",")));
        // Shares its first or its 16th MAC, and board and CPU: the same machine.
        assert!(same_machine_most(&fingerprint, &fp("00|D9|B1|C1")));
        assert!(same_machine_most(&fingerprint, &fp("0F|D9|B1|C1")));
        // Shares only a MAC past the 16th: MACs do not match, two parts are not enough.
        assert!(!same_machine_most(&fingerprint, &fp("0G|D9|B1|C1")));
        assert!(!same_machine_most(&fingerprint, &fp("ZZ|D9|B1|C1")));
        let parts = MachineParts::of(&fingerprint);
        assert_eq!(
            format!("{parts:?}"),
            "MachineParts { macs: 16, disks: 1, board: true, cpu: true }"
        );
    }

    #[test]
    fn stored_fingerprints_are_read_without_a_second_length_check() {
        // 5120 bytes as sent, longer once upper-cased; stored like that, it still matches.
        let sent = format!("m1|d1|b1|{}", "ΐ".repeat(2555));
        let stored = fp(&sent);
        assert!(stored.as_str().len() > super::super::MAX_LEN);
        let probe = MachineParts::of_normalised("M1|D1|B1|X");
        assert!(MachineParts::of_normalised(stored.as_str()).same_machine(&probe));
    }
}
