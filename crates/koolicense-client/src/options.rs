//! The options of `client.md` §2 (`kl_set_option`), with their defaults.

use std::time::Duration;

use chrono::TimeDelta;

use crate::Error;

/// Tunables of a client. Defaults: check-in every 24 h, 7 days of grace, 300 s of clock
/// tolerance, 5 s per HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Hours after the last verified server time at which the next check-in falls due.
    pub check_in_hours: u32,
    /// Days a due check-in may keep failing before the software must stop.
    pub grace_days: u32,
    /// Seconds the clock may be behind a time already seen (and behind a license's
    /// `not_before`) before it counts as turned back.
    pub clock_tolerance_s: u32,
    /// Most milliseconds one HTTP request may take, connection included.
    pub timeout_ms: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            check_in_hours: 24,
            grace_days: 7,
            clock_tolerance_s: 300,
            timeout_ms: 5000,
        }
    }
}

/// Upper bounds that keep every derived time far inside chrono's range.
const MAX_HOURS: u32 = 24 * 366 * 10;
const MAX_DAYS: u32 = 366 * 10;
const MAX_TOLERANCE_S: u32 = 7 * 24 * 3600;
const MAX_TIMEOUT_MS: u32 = 10 * 60 * 1000;

impl Options {
    /// Sets the option `name` from a decimal string, as `kl_set_option` does. An unknown name, a
    /// malformed value or one out of range is refused and changes nothing.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let (slot, low, high) = match name {
            "check_in_hours" => (&mut self.check_in_hours, 1, MAX_HOURS),
            "grace_days" => (&mut self.grace_days, 0, MAX_DAYS),
            "clock_tolerance_s" => (&mut self.clock_tolerance_s, 0, MAX_TOLERANCE_S),
            "timeout_ms" => (&mut self.timeout_ms, 1, MAX_TIMEOUT_MS),
            _ => return Err(Error::invalid_argument(format!("unknown option {name:?}"))),
        };
        let parsed: u32 = value.trim().parse().map_err(|_| {
            Error::invalid_argument(format!("option {name}: {value:?} is not a decimal number"))
        })?;
        if !(low..=high).contains(&parsed) {
            return Err(Error::invalid_argument(format!(
                "option {name}: {parsed} is outside {low}..={high}"
            )));
        }
        *slot = parsed;
        Ok(())
    }

    pub(crate) fn check_in_interval(&self) -> TimeDelta {
        TimeDelta::hours(i64::from(self.check_in_hours))
    }

    pub(crate) fn grace(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.grace_days))
    }

    pub(crate) fn tolerance(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.clock_tolerance_s))
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn options_parse_by_name_and_refuse_the_rest() {
        let mut options = Options::default();
        options.set("check_in_hours", "12").unwrap();
        options.set("grace_days", " 0 ").unwrap();
        options.set("clock_tolerance_s", "60").unwrap();
        options.set("timeout_ms", "250").unwrap();
        assert_eq!(
            options,
            Options {
                check_in_hours: 12,
                grace_days: 0,
                clock_tolerance_s: 60,
                timeout_ms: 250
            }
        );
        for (name, value) in [
            ("nope", "1"),
            ("grace_days", "-1"),
            ("grace_days", "seven"),
            ("timeout_ms", "0"),
            ("check_in_hours", "0"),
            ("check_in_hours", "99999999999"),
        ] {
            let error = options.set(name, value).unwrap_err();
            assert_eq!(error.status(), Status::InvalidArgument, "{name}={value}");
        }
        assert_eq!(options.grace_days, 0, "a refused value changes nothing");
    }
}
