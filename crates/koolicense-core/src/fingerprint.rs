//! Device fingerprints in the marketplace's `MAC|diskSerial|boardSerial|cpuId` form.
//!
//! The marketplace (`koogallery.md` §6) sends the same string its desktop client computed:
//! multiple MACs or disks joined with `,`, missing parts left empty, the whole string upper-cased,
//! at most 5 KB.
//! A [`Fingerprint`] is that string after trimming and upper-casing; licenses carry only its
//! SHA-256 (`api.md` §5), and its `Debug` shows a hash prefix because fingerprints must never reach
//! the logs.

use std::fmt;
use std::fs;
use std::path::Path;
use std::str::FromStr;

use sha2::{Digest, Sha256};

mod matching;

pub use self::matching::{MAX_MATCHED_ENTRIES, MachineParts, same_machine_most};

/// Largest accepted fingerprint, in bytes as received (api.md §4, the client guide's 5 KB).
/// Upper-casing may lengthen it (`ΐ`, 2 bytes, upper-cases to 6): the bound is the contract's,
/// on what the client sent.
pub const MAX_LEN: usize = 5120;

/// Why a raw string is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// Nothing but whitespace.
    #[error("fingerprint is empty")]
    Empty,
    /// Longer than [`MAX_LEN`] bytes as received.
    #[error("fingerprint is {len} bytes long; at most {MAX_LEN} bytes are allowed")]
    TooLong {
        /// Length of the fingerprint as received, in bytes.
        len: usize,
    },
    /// A control character (newline, tab, NUL, ...) inside the fingerprint.
    #[error("fingerprint contains a control character at byte {position}")]
    ControlCharacter {
        /// Byte offset of the character in the normalised fingerprint.
        position: usize,
    },
}

/// A validated, normalised (trimmed, upper-cased) device fingerprint.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

/// The four parts of a fingerprint, split for the hardware-drift rule.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FingerprintParts {
    /// MAC addresses (first part, `,`-separated), empty entries dropped.
    pub macs: Vec<String>,
    /// Disk serials (second part, `,`-separated), empty entries dropped.
    pub disks: Vec<String>,
    /// Board serial (third part), empty when unknown.
    pub board: String,
    /// CPU id (fourth part), empty when unknown.
    pub cpu: String,
}

/// Trims and upper-cases a raw fingerprint: the normal form every hash is taken over.
fn normalise(raw: &str) -> String {
    raw.trim().to_uppercase()
}

/// Hex SHA-256 of `raw` after trimming and upper-casing, as `fingerprint_sha256` in licenses.
///
/// Does not validate; for a valid fingerprint it equals [`Fingerprint::sha256_hex`].
pub fn sha256_hex_of_normalised(raw: &str) -> String {
    hex::encode(Sha256::digest(normalise(raw).as_bytes()))
}

impl Fingerprint {
    /// Validates and normalises a raw fingerprint: at most 5120 bytes as received, something
    /// besides whitespace, no control characters.
    pub fn parse(raw: &str) -> Result<Self, FingerprintError> {
        if raw.len() > MAX_LEN {
            return Err(FingerprintError::TooLong { len: raw.len() });
        }
        let normal = normalise(raw);
        if normal.is_empty() {
            return Err(FingerprintError::Empty);
        }
        if let Some((position, _)) = normal.char_indices().find(|(_, c)| c.is_control()) {
            return Err(FingerprintError::ControlCharacter { position });
        }
        Ok(Self(normal))
    }

    /// The normalised fingerprint. Treat it as a secret: do not log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hex SHA-256 of the normalised fingerprint (lower-case hex, 64 characters).
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// Splits the fingerprint into its parts. Parts past the fourth `|` are ignored, missing
    /// trailing parts are empty, and every entry is trimmed.
    pub fn parts(&self) -> FingerprintParts {
        let mut fields = self.0.split('|').map(str::trim);
        let list = |field: Option<&str>| -> Vec<String> {
            field
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let macs = list(fields.next());
        let disks = list(fields.next());
        let board = fields.next().unwrap_or_default().to_owned();
        let cpu = fields.next().unwrap_or_default().to_owned();
        FingerprintParts {
            macs,
            disks,
            board,
            cpu,
        }
    }
}

impl fmt::Debug for Fingerprint {
    // A hash prefix is enough to tell fingerprints apart in a log without revealing hardware ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hash = self.sha256_hex();
        write!(
            f,
            "Fingerprint(sha256:{}…)",
            hash.get(..12).unwrap_or(&hash)
        )
    }
}

impl fmt::Debug for FingerprintParts {
    // Counts only: the parts are hardware identifiers and as secret as the fingerprint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintParts")
            .field("macs", &self.macs.len())
            .field("disks", &self.disks.len())
            .field("board", &!self.board.is_empty())
            .field("cpu", &!self.cpu.is_empty())
            .finish()
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl TryFrom<&str> for Fingerprint {
    type Error = FingerprintError;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = FingerprintError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading this machine's fingerprint (Linux, best effort).
// ---------------------------------------------------------------------------------------------

/// At most this many MACs and disks each, and this many bytes per value, so that the result always
/// stays far below [`MAX_LEN`] however many interfaces a host has. As many as the drift rule
/// looks at.
const MAX_ENTRIES: usize = MAX_MATCHED_ENTRIES;
const MAX_VALUE_LEN: usize = 128;

/// Board serials that firmware ships unset; they would make unrelated machines "match".
const PLACEHOLDER_SERIALS: &[&str] = &[
    "TO BE FILLED BY O.E.M.",
    "DEFAULT STRING",
    "NOT SPECIFIED",
    "NOT APPLICABLE",
    "NONE",
    "N/A",
    "0",
    "SYSTEM SERIAL NUMBER",
    "BASE BOARD SERIAL NUMBER",
];

/// This Linux machine's fingerprint in the marketplace's `MAC|disk|board|cpu` form, upper-cased.
/// Unreadable parts are empty; never fails and never panics.
pub fn this_machine() -> String {
    this_machine_from(Path::new("/"))
}

/// [`this_machine`] against a filesystem rooted at `root` (`/` in production, a fake tree in
/// tests).
pub fn this_machine_from(root: &Path) -> String {
    let macs = mac_addresses(root).join(",");
    let disks = disk_serials(root).join(",");
    let board = board_serial(root);
    let cpu = cpu_id(root);
    format!("{macs}|{disks}|{board}|{cpu}").to_uppercase()
}

/// Reads a small sysfs/procfs file as trimmed text; `None` when unreadable or empty.
fn read_value(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let value = clean(&text);
    (!value.is_empty()).then_some(value)
}

/// Drops characters that would break the `|`/`,` structure or the control-character rule.
fn clean(raw: &str) -> String {
    let kept: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control() && *c != '|' && *c != ',')
        .collect();
    let mut value = kept.trim().to_owned();
    while value.len() > MAX_VALUE_LEN {
        value.pop();
    }
    value
}

/// Names of the entries of a directory, sorted so that the fingerprint does not depend on
/// `readdir` order.
fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Sorts, de-duplicates and caps a list of values.
fn finish_list(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values.dedup();
    values.truncate(MAX_ENTRIES);
    values
}

/// MACs of physical interfaces: `lo`, virtual interfaces (bridges, veth, docker, tun: those listed
/// under `/sys/devices/virtual/net`) and all-zero addresses are skipped.
fn mac_addresses(root: &Path) -> Vec<String> {
    let class = root.join("sys/class/net");
    let virtual_net = root.join("sys/devices/virtual/net");
    let macs = sorted_names(&class)
        .into_iter()
        .filter(|name| name != "lo" && !virtual_net.join(name).exists())
        .filter_map(|name| read_value(&class.join(name).join("address")))
        .filter(|mac| mac.chars().any(|c| c != '0' && c != ':'))
        .collect();
    finish_list(macs)
}

/// Serials of physical block devices, from the first source that has one: `device/serial` (`NVMe`,
/// some SCSI), `serial` (virtio), then the `/dev/disk/by-id` link name (`ata-MODEL_SERIAL`).
fn disk_serials(root: &Path) -> Vec<String> {
    let block = root.join("sys/block");
    let virtual_block = root.join("sys/devices/virtual/block");
    let serials = sorted_names(&block)
        .into_iter()
        .filter(|name| !virtual_block.join(name).exists())
        .filter(|name| {
            !["loop", "ram", "zram", "dm-", "md", "sr"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .filter_map(|name| {
            read_value(&block.join(&name).join("device/serial"))
                .or_else(|| read_value(&block.join(&name).join("serial")))
                .or_else(|| serial_from_by_id(root, &name))
        })
        .collect();
    finish_list(serials)
}

/// Finds a `/dev/disk/by-id/{ata,nvme,scsi}-MODEL_SERIAL` link to `device` and returns its serial.
fn serial_from_by_id(root: &Path, device: &str) -> Option<String> {
    let by_id = root.join("dev/disk/by-id");
    sorted_names(&by_id).into_iter().find_map(|name| {
        let (bus, rest) = name.split_once('-')?;
        if !matches!(bus, "ata" | "nvme" | "scsi") || rest.starts_with("eui.") {
            return None;
        }
        let target = fs::read_link(by_id.join(&name)).ok()?;
        if target.file_name()?.to_str()? != device {
            return None;
        }
        let serial = clean(rest.rsplit_once('_').map_or(rest, |(_, serial)| serial));
        (!serial.is_empty()).then_some(serial)
    })
}

/// The DMI board serial; empty when unreadable (it is root-only on most distributions) or a
/// firmware placeholder.
fn board_serial(root: &Path) -> String {
    read_value(&root.join("sys/class/dmi/id/board_serial"))
        .filter(|serial| !PLACEHOLDER_SERIALS.contains(&serial.to_uppercase().as_str()))
        .unwrap_or_default()
}

/// A CPU id in the shape Windows reports as `ProcessorId`, which is what the marketplace's examples
/// show (e.g. `BFEBFBFF00090672`): CPUID leaf 1 EDX feature bits followed by the EAX signature.
///
/// Linux exposes no CPUID serial and executing `cpuid` would need `unsafe`, so on x86 this is
/// rebuilt from `/proc/cpuinfo`: EDX from the named feature flags, EAX from `cpu family`, `model`
/// and `stepping`. Hypervisors may mask flags, so the value can differ from the host's. On ARM
/// (Kunpeng and others) the MIDR register is rebuilt from the `CPU implementer/variant/part/
/// revision` lines. Empty when neither is readable.
fn cpu_id(root: &Path) -> String {
    let Ok(text) = fs::read_to_string(root.join("proc/cpuinfo")) else {
        return String::new();
    };
    // Only the first processor block: all cores of one machine report the same model.
    let first = text.split("\n\n").next().unwrap_or_default();
    let field = |key: &str| {
        first.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == key).then(|| value.trim())
        })
    };
    let number = |key: &str| {
        let value = field(key)?;
        match value.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => value.parse::<u32>().ok(),
        }
    };
    if let (Some(family), Some(model), Some(stepping)) =
        (number("cpu family"), number("model"), number("stepping"))
    {
        let edx = x86_edx(field("flags").unwrap_or_default());
        return format!("{edx:08X}{:08X}", x86_eax(family, model, stepping));
    }
    if let (Some(implementer), Some(variant), Some(part), Some(revision)) = (
        number("CPU implementer"),
        number("CPU variant"),
        number("CPU part"),
        number("CPU revision"),
    ) {
        // Architecture 0xF means "see the CPUID scheme", which every ARMv7+ core reports.
        let midr = (implementer & 0xFF) << 24
            | (variant & 0xF) << 20
            | 0xF << 16
            | (part & 0xFFF) << 4
            | (revision & 0xF);
        return format!("{midr:08X}");
    }
    String::new()
}

/// Linux's names of CPUID leaf 1 EDX bits 0..=31 (`None` for reserved bits).
const EDX_FLAGS: [Option<&str>; 32] = [
    Some("fpu"),
    Some("vme"),
    Some("de"),
    Some("pse"),
    Some("tsc"),
    Some("msr"),
    Some("pae"),
    Some("mce"),
    Some("cx8"),
    Some("apic"),
    None,
    Some("sep"),
    Some("mtrr"),
    Some("pge"),
    Some("mca"),
    Some("cmov"),
    Some("pat"),
    Some("pse36"),
    Some("pn"),
    Some("clflush"),
    None,
    Some("dts"),
    Some("acpi"),
    Some("mmx"),
    Some("fxsr"),
    Some("sse"),
    Some("sse2"),
    Some("ss"),
    Some("ht"),
    Some("tm"),
    Some("ia64"),
    Some("pbe"),
];

/// CPUID leaf 1 EDX rebuilt from the `flags` line.
fn x86_edx(flags: &str) -> u32 {
    let present: Vec<&str> = flags.split_whitespace().collect();
    EDX_FLAGS
        .iter()
        .enumerate()
        .filter(|(_, name)| name.is_some_and(|name| present.contains(&name)))
        .fold(0, |edx, (bit, _)| edx | 1 << bit)
}

/// CPUID leaf 1 EAX from the family/model/stepping Linux printed (which already folded in the
/// extended family and model fields; this unfolds them again).
fn x86_eax(family: u32, model: u32, stepping: u32) -> u32 {
    let (base_family, ext_family) = if family >= 0xF {
        (0xF, (family - 0xF) & 0xFF)
    } else {
        (family, 0)
    };
    let (base_model, ext_model) = if base_family == 0x6 || base_family == 0xF {
        (model & 0xF, (model >> 4) & 0xF)
    } else {
        (model & 0xF, 0)
    };
    ext_family << 20 | ext_model << 16 | base_family << 8 | base_model << 4 | (stepping & 0xF)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod fuzz;
