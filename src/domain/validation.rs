//! The license decision of `POST /v1/check-in` (and the refusals of `POST /v1/activate`): a pure
//! function of what we know about the code, the machine's binding and the time.
//!
//! A failed check is not an HTTP error: check-in answers `200` with `valid: false` and a stable
//! status. The checks run in this fixed order, and the first that fails decides:
//!
//! 1. `NOT_ACTIVATED`: we do not know the code, or it was never activated through us.
//! 2. `RELEASED`: KooGallery released the code (for good).
//! 3. `NOT_ACTIVATED` / `FINGERPRINT_MISMATCH`: this machine holds no live binding of the code;
//!    `NOT_ACTIVATED` when no machine does (all seats freed), `FINGERPRINT_MISMATCH` otherwise.
//! 4. `REVOKED`: support revoked this machine's license.
//! 5. `FROZEN`: KooGallery froze the code (expired, inside its grace period).
//! 6. `EXPIRED`: the marketplace reports the code expired, or its expiry is in the past.
//! 7. `VALID`.
//!
//! Activation refuses with the same statuses in the same relative order (2, 4, 5, 6): see
//! [`refusal`].

use chrono::NaiveDateTime;
use serde::Serialize;

/// The marketplace's lifecycle status of a code (`auth_codes.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketStatus {
    /// `ALIVE`.
    Alive,
    /// `EXPIRED`.
    Expired,
    /// `RELEASED`.
    Released,
}

/// What we know about an authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeFacts {
    /// The code was activated with KooGallery through us (a callback alone records a code
    /// without activating it).
    pub activated: bool,
    /// KooGallery's lifecycle status.
    pub status: MarketStatus,
    /// Frozen by `updateLicenseCodeStatus`.
    pub frozen: bool,
    /// When the code expires; `None`: perpetual.
    pub expires_at: Option<NaiveDateTime>,
}

/// What we know about the license of this machine's binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseFacts {
    /// Support revoked it.
    pub revoked: bool,
}

/// Whether the asking machine holds a live binding of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// It does; its license (`None` only if the license row is missing, which counts as not
    /// revoked).
    Bound(Option<LicenseFacts>),
    /// It does not; `others` tells whether any other machine does.
    Unbound {
        /// Some machine holds a live binding of the code.
        others: bool,
    },
}

/// The closed set of check-in answers, serialised `SCREAMING_SNAKE_CASE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Everything checks out.
    Valid,
    /// The code has expired.
    Expired,
    /// KooGallery froze the code.
    Frozen,
    /// KooGallery released the code.
    Released,
    /// Support revoked the license.
    Revoked,
    /// The code is unknown, never activated, or bound to no machine.
    NotActivated,
    /// The code is bound to other machines, not this one.
    FingerprintMismatch,
}

impl Status {
    /// The wire form, e.g. `FINGERPRINT_MISMATCH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Expired => "EXPIRED",
            Self::Frozen => "FROZEN",
            Self::Released => "RELEASED",
            Self::Revoked => "REVOKED",
            Self::NotActivated => "NOT_ACTIVATED",
            Self::FingerprintMismatch => "FINGERPRINT_MISMATCH",
        }
    }
}

/// The decision: `valid` exactly when `status` is [`Status::Valid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// May the software run.
    pub valid: bool,
    /// Why (or why not).
    pub status: Status,
}

impl From<Status> for Validation {
    fn from(status: Status) -> Self {
        Self {
            valid: status == Status::Valid,
            status,
        }
    }
}

/// True when the code's expiry lies before `now` (a license is valid up to and including its
/// `expires_at`, as `koolicense verify` checks it).
pub fn is_past(expires_at: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    expires_at.is_some_and(|end| now > end)
}

/// Why a known code may not be used for a (new or repeated) binding, in the order of the module
/// doc (released, revoked, frozen, expired); `None` when it may. `license` is the license of the
/// machine's existing binding, if it has one.
pub fn refusal(
    code: &CodeFacts,
    license: Option<&LicenseFacts>,
    now: NaiveDateTime,
) -> Option<Status> {
    if code.status == MarketStatus::Released {
        return Some(Status::Released);
    }
    if license.is_some_and(|l| l.revoked) {
        return Some(Status::Revoked);
    }
    if code.frozen {
        return Some(Status::Frozen);
    }
    if code.status == MarketStatus::Expired || is_past(code.expires_at, now) {
        return Some(Status::Expired);
    }
    None
}

/// The check-in decision, in the order of the module doc. `code` is `None` for a code we have
/// never seen.
pub fn validate(code: Option<&CodeFacts>, binding: Binding, now: NaiveDateTime) -> Validation {
    let Some(code) = code.filter(|c| c.activated) else {
        return Status::NotActivated.into();
    };
    if code.status == MarketStatus::Released {
        return Status::Released.into();
    }
    let license = match binding {
        Binding::Unbound { others: false } => return Status::NotActivated.into(),
        Binding::Unbound { others: true } => return Status::FingerprintMismatch.into(),
        Binding::Bound(license) => license,
    };
    refusal(code, license.as_ref(), now)
        .unwrap_or(Status::Valid)
        .into()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use chrono::{NaiveDate, TimeDelta};
    use proptest::prelude::*;

    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn alive() -> CodeFacts {
        CodeFacts {
            activated: true,
            status: MarketStatus::Alive,
            frozen: false,
            expires_at: Some(now() + TimeDelta::days(30)),
        }
    }

    fn with(change: impl FnOnce(&mut CodeFacts)) -> CodeFacts {
        let mut code = alive();
        change(&mut code);
        code
    }

    const BOUND: Binding = Binding::Bound(Some(LicenseFacts { revoked: false }));
    const REVOKED: Binding = Binding::Bound(Some(LicenseFacts { revoked: true }));

    #[test]
    fn checks_run_in_the_documented_order() {
        let past = Some(now() - TimeDelta::seconds(1));
        let released = with(|c| c.status = MarketStatus::Released);
        let everything_wrong = with(|c| {
            c.status = MarketStatus::Released;
            c.frozen = true;
            c.expires_at = Some(now() - TimeDelta::days(1));
        });
        let frozen_and_expired = with(|c| {
            c.frozen = true;
            c.status = MarketStatus::Expired;
        });
        let cases: Vec<(Option<CodeFacts>, Binding, Status)> = vec![
            (None, BOUND, Status::NotActivated),
            (
                Some(with(|c| c.activated = false)),
                BOUND,
                Status::NotActivated,
            ),
            (
                Some(with(|c| c.activated = false)),
                REVOKED,
                Status::NotActivated,
            ),
            (
                Some(released.clone()),
                Binding::Unbound { others: true },
                Status::Released,
            ),
            (Some(everything_wrong), REVOKED, Status::Released),
            (
                Some(alive()),
                Binding::Unbound { others: false },
                Status::NotActivated,
            ),
            (
                Some(alive()),
                Binding::Unbound { others: true },
                Status::FingerprintMismatch,
            ),
            (
                Some(frozen_and_expired.clone()),
                Binding::Unbound { others: true },
                Status::FingerprintMismatch,
            ),
            (Some(frozen_and_expired.clone()), REVOKED, Status::Revoked),
            (Some(frozen_and_expired), BOUND, Status::Frozen),
            (
                Some(with(|c| c.status = MarketStatus::Expired)),
                BOUND,
                Status::Expired,
            ),
            (Some(with(|c| c.expires_at = past)), BOUND, Status::Expired),
            (
                Some(with(|c| c.expires_at = Some(now()))),
                BOUND,
                Status::Valid,
            ),
            (Some(with(|c| c.expires_at = None)), BOUND, Status::Valid),
            (Some(alive()), Binding::Bound(None), Status::Valid),
            (Some(alive()), BOUND, Status::Valid),
        ];
        for (code, binding, expected) in cases {
            let got = validate(code.as_ref(), binding, now());
            assert_eq!(got.status, expected, "{code:?} {binding:?}");
            assert_eq!(got.valid, expected == Status::Valid);
        }
    }

    #[test]
    fn activation_refuses_in_the_same_relative_order() {
        let mut code = alive();
        assert_eq!(refusal(&code, None, now()), None);
        code.expires_at = Some(now() - TimeDelta::days(1));
        assert_eq!(refusal(&code, None, now()), Some(Status::Expired));
        code.frozen = true;
        assert_eq!(refusal(&code, None, now()), Some(Status::Frozen));
        let revoked = LicenseFacts { revoked: true };
        assert_eq!(refusal(&code, Some(&revoked), now()), Some(Status::Revoked));
        code.status = MarketStatus::Released;
        assert_eq!(
            refusal(&code, Some(&revoked), now()),
            Some(Status::Released)
        );
    }

    #[test]
    fn statuses_serialise_screaming() {
        for status in [
            Status::Valid,
            Status::NotActivated,
            Status::FingerprintMismatch,
        ] {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
        }
    }

    fn any_code() -> impl Strategy<Value = Option<CodeFacts>> {
        let status = prop_oneof![
            Just(MarketStatus::Alive),
            Just(MarketStatus::Expired),
            Just(MarketStatus::Released)
        ];
        let expiry = prop::option::of(-1000i64..1000);
        prop::option::of((any::<bool>(), status, any::<bool>(), expiry).prop_map(
            |(activated, status, frozen, offset)| CodeFacts {
                activated,
                status,
                frozen,
                expires_at: offset.map(|s| now() + TimeDelta::seconds(s)),
            },
        ))
    }

    fn any_binding() -> impl Strategy<Value = Binding> {
        prop_oneof![
            any::<bool>().prop_map(|others| Binding::Unbound { others }),
            prop::option::of(any::<bool>())
                .prop_map(|r| Binding::Bound(r.map(|revoked| LicenseFacts { revoked }))),
        ]
    }

    proptest! {
        #[test]
        fn valid_only_when_every_check_passes(code in any_code(), binding in any_binding()) {
            let got = validate(code.as_ref(), binding, now());
            prop_assert_eq!(got.valid, got.status == Status::Valid);
            let all_good = code.as_ref().is_some_and(|c| {
                c.activated
                    && c.status == MarketStatus::Alive
                    && !c.frozen
                    && !is_past(c.expires_at, now())
            }) && matches!(binding, Binding::Bound(l) if !l.is_some_and(|l| l.revoked));
            prop_assert_eq!(got.valid, all_good);
        }

        #[test]
        fn a_bound_machine_gets_what_activation_would_refuse_with(
            code in any_code(),
            license in prop::option::of(any::<bool>()),
        ) {
            let Some(code) = code.filter(|c| c.activated) else { return Ok(()) };
            let facts = license.map(|revoked| LicenseFacts { revoked });
            let got = validate(Some(&code), Binding::Bound(facts), now());
            let refused = refusal(&code, facts.as_ref(), now());
            prop_assert_eq!(got.status, refused.unwrap_or(Status::Valid));
        }
    }
}
