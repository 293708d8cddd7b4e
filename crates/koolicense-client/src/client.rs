//! A [`Client`]: one data directory, one server (or none), the public keys, the options.
//!
//! A client keeps almost nothing in memory: every call reads the data directory again and
//! verifies what it finds, so several handles, threads and processes on one directory agree,
//! and no call trusts a file for more than its signature proves.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use koolicense_core::fingerprint::{self, Fingerprint};
use koolicense_core::keys::Verifier;
use koolicense_core::license::{self, LicensePayload, VerifyError};

use crate::answer::Binding;
use crate::http::Server;
use crate::store::{KEYS_FILE, LICENSE_FILE, State, Store};
use crate::verdict::{self, Decision, Facts, ServerSays};
use crate::{Error, Options, Status, Verdict};

/// How far apart remembered clock readings are written to disk: often enough that a clock
/// turned back is noticed, rarely enough that `kl_check` stays a read.
const SEEN_WRITE_EVERY_S: i64 = 600;

/// Builds a [`Client`].
///
/// ```no_run
/// use koolicense_client::Client;
///
/// let client = Client::builder("/var/lib/my-app/license")
///     .server("https://licenses.example.com")
///     .public_keys(r#"{"keys":[]}"#) // the GET /v1/keys document, embedded at build time
///     .grace_days(3)
///     .open()?;
/// # Ok::<(), koolicense_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    data_dir: PathBuf,
    server: Option<String>,
    public_keys: Option<String>,
    fingerprint: Option<String>,
    options: Options,
}

impl Builder {
    /// The license server. Without one the client is air-gapped: it never makes a network
    /// call, and its status is that of its license.
    #[must_use]
    pub fn server(mut self, url: impl Into<String>) -> Self {
        self.server = Some(url.into());
        self
    }

    /// The `GET /v1/keys` document, embedded in the application (recommended). Without it the
    /// keys are fetched once from the server and pinned in the data directory.
    #[must_use]
    pub fn public_keys(mut self, json: impl Into<String>) -> Self {
        self.public_keys = Some(json.into());
        self
    }

    /// A fingerprint to use instead of this machine's.
    #[must_use]
    pub fn fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// Hours between check-ins (default 24).
    #[must_use]
    pub fn check_in_hours(mut self, hours: u32) -> Self {
        self.options.check_in_hours = hours;
        self
    }

    /// Days a due check-in may fail before the software must stop (default 7).
    #[must_use]
    pub fn grace_days(mut self, days: u32) -> Self {
        self.options.grace_days = days;
        self
    }

    /// Seconds the clock may be behind a time already seen (default 300).
    #[must_use]
    pub fn clock_tolerance_s(mut self, seconds: u32) -> Self {
        self.options.clock_tolerance_s = seconds;
        self
    }

    /// Most milliseconds per HTTP request (default 5000).
    #[must_use]
    pub fn timeout_ms(mut self, millis: u32) -> Self {
        self.options.timeout_ms = millis;
        self
    }

    /// Opens the data directory (created 0700 if missing) and checks every setting.
    pub fn open(self) -> Result<Client, Error> {
        let mut options = Options::default();
        for (name, value) in [
            ("check_in_hours", self.options.check_in_hours),
            ("grace_days", self.options.grace_days),
            ("clock_tolerance_s", self.options.clock_tolerance_s),
            ("timeout_ms", self.options.timeout_ms),
        ] {
            options.set(name, &value.to_string())?;
        }
        let server = self.server.as_deref().map(Server::parse).transpose()?;
        let embedded = self
            .public_keys
            .as_deref()
            .map(|json| {
                Verifier::from_keys_json(json)
                    .map(Arc::new)
                    .map_err(|e| Error::invalid_argument(format!("public_keys_json: {e}")))
            })
            .transpose()?;
        let fingerprint = self
            .fingerprint
            .as_deref()
            .map(parse_fingerprint)
            .transpose()?;
        let store = Store::open(&self.data_dir)?;
        Ok(Client {
            store,
            server,
            keys: Mutex::new(embedded),
            options: Mutex::new(options),
            fingerprint: Mutex::new(fingerprint),
            seen: AtomicI64::new(i64::MIN),
        })
    }
}

/// A client of one koolicense server for one data directory. `Send + Sync`: share it between
/// threads freely.
#[derive(Debug)]
pub struct Client {
    pub(crate) store: Store,
    pub(crate) server: Option<Server>,
    /// Embedded keys, or pinned ones once loaded.
    keys: Mutex<Option<Arc<Verifier>>>,
    options: Mutex<Options>,
    /// Set by the application, or this machine's once read.
    fingerprint: Mutex<Option<Fingerprint>>,
    /// The latest clock reading seen by this handle (Unix seconds).
    seen: AtomicI64,
}

/// What a call read and verified from the data directory.
pub(crate) struct Snapshot {
    pub license: Option<(String, Result<LicensePayload, VerifyError>)>,
    pub state: State,
    pub keys: Option<Arc<Verifier>>,
    pub fingerprint: Fingerprint,
}

impl Client {
    /// Starts a [`Builder`] for this data directory.
    pub fn builder(data_dir: impl AsRef<Path>) -> Builder {
        Builder {
            data_dir: data_dir.as_ref().to_path_buf(),
            server: None,
            public_keys: None,
            fingerprint: None,
            options: Options::default(),
        }
    }

    /// Sets an option by name, as `kl_set_option` does (`check_in_hours`, `grace_days`,
    /// `clock_tolerance_s`, `timeout_ms`).
    pub fn set_option(&self, name: &str, value: &str) -> Result<(), Error> {
        let mut options = self.options.lock().unwrap_or_else(PoisonError::into_inner);
        options.set(name, value)
    }

    /// The current options.
    pub fn options(&self) -> Options {
        *self.options.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Uses `fingerprint` instead of this machine's.
    pub fn set_fingerprint(&self, fingerprint: &str) -> Result<(), Error> {
        let parsed = parse_fingerprint(fingerprint)?;
        *self
            .fingerprint
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(parsed);
        Ok(())
    }

    /// The fingerprint this client binds licenses to.
    pub fn fingerprint(&self) -> Result<Fingerprint, Error> {
        let mut slot = self
            .fingerprint
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(fingerprint) = slot.as_ref() {
            return Ok(fingerprint.clone());
        }
        let collected = this_machine().ok_or_else(|| {
            Error::invalid_argument(
                "cannot read this machine's fingerprint; pass one with kl_set_fingerprint",
            )
        })?;
        *slot = Some(collected.clone());
        Ok(collected)
    }

    /// The public keys: embedded, pinned in the data directory, or fetched once from the
    /// server and pinned.
    pub(crate) fn keys(&self) -> Result<Arc<Verifier>, Error> {
        let mut slot = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(keys) = slot.as_ref() {
            return Ok(Arc::clone(keys));
        }
        let pinned = if let Some(json) = self.store.read(KEYS_FILE)? {
            json
        } else {
            let server = self.server.as_ref().ok_or_else(|| {
                Error::invalid_argument("no public keys: embed the GET /v1/keys document")
            })?;
            let json = server.keys(self.options().timeout())?;
            Verifier::from_keys_json(&json)
                .map_err(|e| Error::new(Status::Network, e.to_string()))?;
            self.store.write(KEYS_FILE, json.as_bytes())?;
            json
        };
        let keys = Arc::new(
            Verifier::from_keys_json(&pinned)
                .map_err(|e| Error::store(format!("{KEYS_FILE}: {e}")))?,
        );
        *slot = Some(Arc::clone(&keys));
        Ok(keys)
    }

    /// Reads the data directory and verifies the license (signature, key, fingerprint).
    pub(crate) fn snapshot(&self) -> Result<Snapshot, Error> {
        let fingerprint = self.fingerprint()?;
        let state = self.store.state()?;
        let Some(text) = self.store.read(LICENSE_FILE)? else {
            return Ok(Snapshot {
                license: None,
                state,
                keys: None,
                fingerprint,
            });
        };
        let keys = self.keys()?;
        let verified = license::verify_signed(&text, &*keys, Some(fingerprint.as_str()));
        Ok(Snapshot {
            license: Some((text, verified)),
            state,
            keys: Some(keys),
            fingerprint,
        })
    }

    /// The offline decision on a snapshot, remembering the clock reading.
    pub(crate) fn decide(&self, snapshot: &Snapshot, now: DateTime<Utc>) -> Decision {
        let options = self.options();
        let payload = snapshot.license.as_ref().map(|(_, verified)| verified);
        let answer = payload
            .and_then(|p| p.as_ref().ok())
            .and_then(|p| stored_answer(snapshot, p));
        let remembered = [snapshot.state.seen_at, self.seen_in_memory()]
            .into_iter()
            .flatten()
            .max()
            .and_then(|s| DateTime::from_timestamp(s, 0));
        verdict::decide(&Facts {
            now,
            options: &options,
            offline: self.server.is_none(),
            license: payload,
            answer,
            seen_at: remembered,
        })
    }

    /// Forgets clock readings later than `now` (the server just vouched for the clock).
    pub(crate) fn reset_seen(&self, now: DateTime<Utc>) {
        self.seen.store(now.timestamp(), Ordering::Relaxed);
    }

    fn seen_in_memory(&self) -> Option<i64> {
        Some(self.seen.load(Ordering::Relaxed)).filter(|s| *s != i64::MIN)
    }

    /// Remembers `now` as seen, in memory always and on disk now and then; not when the clock
    /// was just found turned back (that reading is wrong, not new).
    pub(crate) fn remember(&self, now: DateTime<Utc>, state: &State) -> Result<(), Error> {
        let seconds = now.timestamp();
        self.seen.fetch_max(seconds, Ordering::Relaxed);
        let write_due = state
            .seen_at
            .is_none_or(|seen| seconds >= seen + SEEN_WRITE_EVERY_S);
        if write_due {
            self.update_state(|state| {
                state.seen_at = Some(state.seen_at.map_or(seconds, |s| s.max(seconds)));
            })?;
        }
        Ok(())
    }

    /// Read-modify-write of the state under the directory's lock.
    pub(crate) fn update_state(&self, change: impl FnOnce(&mut State)) -> Result<(), Error> {
        let locked = self.store.lock()?;
        let mut state = self.store.state()?;
        change(&mut state);
        self.store.write_state(&locked, &state)
    }

    /// `kl_check`: the stored license, the clock and the grace rules, without the network.
    pub fn check(&self) -> Result<Verdict, Error> {
        self.check_at(Utc::now()).map(|(verdict, _)| verdict)
    }

    /// [`Client::check`], also saying whether a check-in is due.
    pub(crate) fn check_at(&self, now: DateTime<Utc>) -> Result<(Verdict, bool), Error> {
        let snapshot = self.snapshot()?;
        let decision = self.decide(&snapshot, now);
        if decision.status != Status::ClockTampered {
            self.remember(now, &snapshot.state)?;
        }
        into_result(decision)
    }

    /// `kl_is_genuine`: [`Client::check`], plus a check-in when one is due (or when the clock
    /// looks turned back: a signed server time agreeing with it clears that). A check-in that
    /// fails leaves the offline verdict (grace) standing.
    pub fn is_genuine(&self) -> Result<Verdict, Error> {
        let (verdict, due) = self.check_at(Utc::now())?;
        let ask = due || verdict.status() == Status::ClockTampered;
        if !ask || self.server.is_none() {
            return Ok(verdict);
        }
        match self.check_in() {
            Ok(verdict) => Ok(verdict),
            Err(_) => self.check(),
        }
    }

    /// The stored license's verified payload (signature, key and fingerprint; dates not
    /// checked), or `None` when no license verifies.
    pub fn license(&self) -> Result<Option<LicensePayload>, Error> {
        let snapshot = self.snapshot()?;
        Ok(snapshot.license.and_then(|(_, verified)| verified.ok()))
    }
}

/// The stored answer, if it verifies and belongs to this license and machine.
fn stored_answer(
    snapshot: &Snapshot,
    license: &LicensePayload,
) -> Option<(ServerSays, DateTime<Utc>)> {
    let keys = snapshot.keys.as_ref()?;
    let binding = Binding {
        code_sha256: license.code_sha256.clone()?,
        fingerprint_sha256: snapshot.fingerprint.sha256_hex(),
    };
    let answer = snapshot.state.answer.as_ref()?;
    let verified = answer.verify(&**keys, |n| binding.made(n)).ok()?;
    if !(200..300).contains(&verified.http_status) {
        return None;
    }
    let says = ServerSays::from_word(verified.text("status")?)?;
    Some((says, verified.server_time))
}

/// Ok for a verdict, Err for the other statuses.
pub(crate) fn into_result(decision: Decision) -> Result<(Verdict, bool), Error> {
    if decision.status.code() <= Status::ClockTampered.code() {
        Ok((Verdict::new(decision.status, decision.reason), decision.due))
    } else {
        Err(Error::new(decision.status, decision.reason))
    }
}

fn parse_fingerprint(raw: &str) -> Result<Fingerprint, Error> {
    Fingerprint::parse(raw).map_err(|e| Error::invalid_argument(e.to_string()))
}

/// This machine's fingerprint, `None` when not one part of it could be read.
pub fn this_machine() -> Option<Fingerprint> {
    let raw = fingerprint::this_machine();
    if raw.chars().all(|c| c == '|') {
        return None;
    }
    Fingerprint::parse(&raw).ok()
}
