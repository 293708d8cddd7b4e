//! The closed set of production-interface activities (koogallery.md §4) and one struct per
//! activity holding its checked fields. Every dispatch matches [`Activity`] or
//! [`super::request::Callback`] without a wildcard, so a new activity fails to compile wherever
//! it must be handled.

use chrono::NaiveDateTime;

use crate::db::ids::InstanceId;
use crate::domain::fingerprint::Fingerprint;
use crate::service::codes::Renewal;

/// One activity of `POST /koogallery/license`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    NewInstance,
    RefreshInstance,
    UpdateInstanceStatus,
    ReleaseInstance,
    UpgradeInstance,
    QueryInstance,
    GetLicenseAsync,
    RefreshLicenseCode,
    UpdateLicenseCodeStatus,
    ReleaseLicenseCode,
}

impl Activity {
    /// Every activity, in the order of koogallery.md.
    pub const ALL: [Self; 10] = [
        Self::NewInstance,
        Self::RefreshInstance,
        Self::UpdateInstanceStatus,
        Self::ReleaseInstance,
        Self::UpgradeInstance,
        Self::QueryInstance,
        Self::GetLicenseAsync,
        Self::RefreshLicenseCode,
        Self::UpdateLicenseCodeStatus,
        Self::ReleaseLicenseCode,
    ];

    /// The wire name, also the journal's and the metrics' label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NewInstance => "newInstance",
            Self::RefreshInstance => "refreshInstance",
            Self::UpdateInstanceStatus => "updateInstanceStatus",
            Self::ReleaseInstance => "releaseInstance",
            Self::UpgradeInstance => "upgradeInstance",
            Self::QueryInstance => "queryInstance",
            Self::GetLicenseAsync => "getLicenseAsync",
            Self::RefreshLicenseCode => "refreshLicenseCode",
            Self::UpdateLicenseCodeStatus => "updateLicenseCodeStatus",
            Self::ReleaseLicenseCode => "releaseLicenseCode",
        }
    }

    /// The activity of a wire name, which must match exactly.
    pub fn from_wire(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// The wire names of [`Activity::ALL`], for counting calls under a closed label set.
pub const fn wire_names() -> [&'static str; Activity::ALL.len()] {
    let mut names = [""; Activity::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Activity::ALL[i].as_str();
        i += 1;
    }
    names
}

/// `newInstance`.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub order_id: String,
    pub order_line_id: String,
    pub business_id: InstanceId,
}

/// `refreshInstance`.
#[derive(Debug, Clone)]
pub struct RefreshInstance {
    pub instance_id: InstanceId,
    pub renewal: Renewal,
}

/// `updateInstanceStatus`.
#[derive(Debug, Clone)]
pub struct UpdateInstanceStatus {
    pub instance_id: InstanceId,
    /// `FREEZE` (else `UNFREEZE`).
    pub freeze: bool,
}

/// `releaseInstance`.
#[derive(Debug, Clone)]
pub struct ReleaseInstance {
    pub instance_id: InstanceId,
    pub order_id: Option<String>,
}

/// `upgradeInstance`.
#[derive(Debug, Clone)]
pub struct UpgradeInstance {
    pub instance_id: InstanceId,
    pub order_id: String,
    pub order_line_id: String,
}

/// `queryInstance`.
#[derive(Debug, Clone)]
pub struct QueryInstance {
    pub instance_ids: Vec<InstanceId>,
}

/// `getLicenseAsync`.
#[derive(Debug, Clone)]
pub struct GetLicenseAsync {
    pub instance_id: InstanceId,
    pub effective: NaiveDateTime,
    pub expire: Option<NaiveDateTime>,
    pub event_id: String,
    pub fingerprint: Option<Fingerprint>,
}

/// `refreshLicenseCode`.
#[derive(Debug, Clone)]
pub struct RefreshLicenseCode {
    /// The `license` field: the authorization code.
    pub code: String,
    pub renewal: Renewal,
}

/// `updateLicenseCodeStatus`.
#[derive(Debug, Clone)]
pub struct UpdateLicenseCodeStatus {
    pub code: String,
    /// `FREEZE` (else `UNFREEZE`).
    pub freeze: bool,
}

/// `releaseLicenseCode`.
#[derive(Debug, Clone)]
pub struct ReleaseLicenseCode {
    pub code: String,
    pub order_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::{Activity, wire_names};

    #[test]
    fn every_wire_name_parses_back_to_its_activity() {
        for activity in Activity::ALL {
            assert_eq!(Activity::from_wire(activity.as_str()), Some(activity));
        }
        assert_eq!(wire_names().len(), Activity::ALL.len());
        assert_eq!(Activity::from_wire("newinstance"), None);
        assert_eq!(Activity::from_wire(" newInstance"), None);
    }
}
