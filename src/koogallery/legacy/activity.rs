//! The closed set of legacy activities, matched without a wildcard wherever they are handled.

/// One activity of `GET /koogallery/license` (koogallery.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LegacyActivity {
    /// `getLicense`
    Get,
    /// `refreshLicense`
    Refresh,
    /// `expireLicense`
    Expire,
    /// `releaseLicense`
    Release,
}

impl LegacyActivity {
    const ALL: [Self; 4] = [Self::Get, Self::Refresh, Self::Expire, Self::Release];

    /// The wire name, also the journal's and the metrics' label.
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "getLicense",
            Self::Refresh => "refreshLicense",
            Self::Expire => "expireLicense",
            Self::Release => "releaseLicense",
        }
    }

    /// The activity of a wire name, which must match exactly.
    pub(super) fn from_wire(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::LegacyActivity;

    #[test]
    fn every_wire_name_parses_back_to_its_activity() {
        for activity in LegacyActivity::ALL {
            assert_eq!(LegacyActivity::from_wire(activity.as_str()), Some(activity));
        }
        assert_eq!(LegacyActivity::from_wire("getlicense"), None);
    }
}
