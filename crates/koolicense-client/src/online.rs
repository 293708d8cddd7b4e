//! The calls that talk to the server (activate, check in, deactivate) and the air-gapped pair
//! (offline request, offline install). Only a signed answer that echoes the request's nonce
//! counts; anything else changes nothing.

use std::io::Write;
use std::path::Path;

use chrono::Utc;
use koolicense_core::license::{self, LicensePayload, VerifyError, code_sha256};
use serde_json::{Value, json};

use crate::answer::{Binding, SignedAnswer, Verified};
use crate::client::{Client, into_result};
use crate::http::Server;
use crate::store::{LICENSE_FILE, STATE_FILE, State};
use crate::{Error, Status, Verdict};

/// Longest authorization code (`api.md` §4).
const MAX_CODE_LEN: usize = 64;
/// Largest license file accepted from disk.
const MAX_LICENSE_LEN: u64 = 64 * 1024;

impl Client {
    /// `kl_activate`: binds this machine to `code` on the server and stores its license.
    /// Refusals that are verdicts (`LICENSE_FROZEN`, ...) come back as `Ok`; the others
    /// (`SEAT_LIMIT_REACHED`, `CODE_NOT_FOUND`, the network, ...) as `Err`.
    pub fn activate(&self, code: &str) -> Result<Verdict, Error> {
        check_code(code)?;
        let server = self.online()?;
        let fingerprint = self.fingerprint()?;
        let keys = self.keys()?;
        let binding = Binding {
            code_sha256: code_sha256(code),
            fingerprint_sha256: fingerprint.sha256_hex(),
        };
        let mut body = json!({"code": code, "fingerprint": fingerprint.as_str()});
        if let Some(hostname) = hostname() {
            body["hostname"] = Value::String(hostname);
        }
        let (answer, verified) = self.ask(server, "/v1/activate", body, &binding, &keys)?;
        if !matches!(verified.http_status, 200 | 201) {
            return refused(&verified);
        }
        let text = verified
            .text("license")
            .ok_or_else(|| Error::new(Status::Internal, "the answer carries no license"))?
            .to_owned();
        let payload = license::verify_signed(&text, &*keys, Some(fingerprint.as_str()))
            .map_err(|e| Error::new(Status::InvalidLicense, e.to_string()))?;
        if payload.code_sha256.as_deref() != Some(binding.code_sha256.as_str()) {
            return Err(Error::new(
                Status::InvalidLicense,
                "the license is for another code",
            ));
        }
        let locked = self.store.lock()?;
        self.store.write(LICENSE_FILE, text.as_bytes())?;
        let state = State {
            code: Some(code.to_owned()),
            answer: Some(answer),
            seen_at: Some(Utc::now().timestamp()),
        };
        self.store.write_state(&locked, &state)?;
        drop(locked);
        self.check()
    }

    /// `kl_check_in`: asks the server now, stores its verdict and any newer license. Without a
    /// signed answer for this request nothing changes and the call answers
    /// [`Status::Network`]; the offline verdict (grace) then stands for `kl_check`.
    pub fn check_in(&self) -> Result<Verdict, Error> {
        let server = self.online()?;
        let Some((code, binding, keys, fingerprint)) = self.bound()? else {
            return self.check();
        };
        let body = json!({"code": code, "fingerprint": fingerprint});
        let (answer, verified) = self.ask(server, "/v1/check-in", body, &binding, &keys)?;
        if verified.http_status != 200 {
            return Err(operational(&verified));
        }
        let Some(word) = verified.text("status") else {
            return Err(Error::new(Status::Internal, "the answer carries no status"));
        };
        if crate::verdict::ServerSays::from_word(word).is_none() {
            return Err(Error::new(
                Status::Internal,
                format!("unknown status {word:?}"),
            ));
        }
        let renewed = match verified.text("license") {
            Some(text) => Some(renewal(text, &binding, &keys, &fingerprint)?),
            None => None,
        };
        let locked = self.store.lock()?;
        if let Some(text) = &renewed {
            self.store.write(LICENSE_FILE, text.as_bytes())?;
        }
        let mut state = self.store.state()?;
        state.answer = Some(answer);
        // A fresh signed time that agrees with the local clock shows the clock is right: an
        // earlier reading ahead of it (a clock once set forward) no longer counts.
        let now = Utc::now();
        let in_step = (now - verified.server_time).abs() <= self.options().tolerance();
        state.seen_at = Some(if in_step {
            self.reset_seen(now);
            now.timestamp()
        } else {
            state.seen_at.unwrap_or(0).max(now.timestamp())
        });
        self.store.write_state(&locked, &state)?;
        drop(locked);
        self.check()
    }

    /// `kl_deactivate`: frees this machine's seat on the server, then forgets the license.
    /// [`Status::Ok`] once freed; [`Status::NotActivated`] when the server holds no seat for
    /// this machine (forgotten as well).
    pub fn deactivate(&self) -> Result<Verdict, Error> {
        let server = self.online()?;
        let Some((code, binding, keys, fingerprint)) = self.bound()? else {
            return Ok(Verdict::new(Status::NotActivated, "no license is stored"));
        };
        let body = json!({"code": code, "fingerprint": fingerprint});
        let (_, verified) = self.ask(server, "/v1/deactivate", body, &binding, &keys)?;
        let verdict = match (verified.http_status, verified.text("code")) {
            (200, _) => Verdict::new(Status::Ok, ""),
            (404, Some("ACTIVATION_NOT_FOUND")) => Verdict::new(
                Status::NotActivated,
                "the server holds no seat for this machine",
            ),
            _ => return Err(operational(&verified)),
        };
        let _locked = self.store.lock()?;
        self.store.remove(LICENSE_FILE)?;
        self.store.remove(STATE_FILE)?;
        Ok(verdict)
    }

    /// `kl_offline_request`: writes the request file an air-gapped machine carries to a
    /// connected one (`{"v": 1, "code", "fingerprint", "hostname"}`), and remembers the code.
    pub fn offline_request(&self, code: &str, request_path: &Path) -> Result<(), Error> {
        check_code(code)?;
        let fingerprint = self.fingerprint()?;
        let request = json!({
            "v": 1,
            "code": code,
            "fingerprint": fingerprint.as_str(),
            "hostname": hostname(),
        });
        let mut text = serde_json::to_string_pretty(&request).map_err(Error::store)?;
        text.push('\n');
        crate::store::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(request_path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|e| Error::store(format!("cannot write {}: {e}", request_path.display())))?;
        self.update_state(|state| state.code = Some(code.to_owned()))
    }

    /// `kl_offline_install`: verifies a license file for this machine and stores it. Its signed
    /// `issued_at` counts as the last verified time.
    pub fn offline_install(&self, license_path: &Path) -> Result<Verdict, Error> {
        let too_big = std::fs::metadata(license_path).is_ok_and(|m| m.len() > MAX_LICENSE_LEN);
        if too_big {
            return Err(Error::new(Status::InvalidLicense, "the file is too large"));
        }
        let text = std::fs::read_to_string(license_path).map_err(|e| {
            Error::invalid_argument(format!("cannot read {}: {e}", license_path.display()))
        })?;
        let fingerprint = self.fingerprint()?;
        let keys = self.keys()?;
        let payload = match license::verify_signed(&text, &*keys, Some(fingerprint.as_str())) {
            Ok(payload) => payload,
            Err(VerifyError::FingerprintMismatch) => {
                return Ok(Verdict::new(
                    Status::FingerprintMismatch,
                    "the license belongs to another machine",
                ));
            }
            Err(e) => return Err(Error::new(Status::InvalidLicense, e.to_string())),
        };
        let locked = self.store.lock()?;
        let mut state = self.store.state()?;
        let code = state
            .code
            .take()
            .filter(|code| payload.code_sha256.as_deref() == Some(code_sha256(code).as_str()));
        self.store.write(LICENSE_FILE, text.as_bytes())?;
        let state = State {
            code,
            answer: None,
            seen_at: state.seen_at,
        };
        self.store.write_state(&locked, &state)?;
        drop(locked);
        self.check()
    }

    fn online(&self) -> Result<&Server, Error> {
        self.server.as_ref().ok_or_else(|| {
            Error::invalid_argument("this client has no server (air-gapped): use offline files")
        })
    }

    /// The stored license's code and binding, when a license verifies for this machine and
    /// its code is known.
    #[expect(
        clippy::type_complexity,
        reason = "a private tuple of what the calls need"
    )]
    fn bound(
        &self,
    ) -> Result<
        Option<(
            String,
            Binding,
            std::sync::Arc<koolicense_core::keys::Verifier>,
            String,
        )>,
        Error,
    > {
        let snapshot = self.snapshot()?;
        let Some((_, verified)) = &snapshot.license else {
            return Ok(None);
        };
        let payload: &LicensePayload = verified
            .as_ref()
            .map_err(|e| Error::new(Status::InvalidLicense, e.to_string()))?;
        let code = snapshot.state.code.clone().ok_or_else(|| {
            Error::new(
                Status::Store,
                "the stored license's code is unknown: activate again",
            )
        })?;
        let binding = Binding {
            code_sha256: code_sha256(&code),
            fingerprint_sha256: snapshot.fingerprint.sha256_hex(),
        };
        if payload.code_sha256.as_deref() != Some(binding.code_sha256.as_str()) {
            return Err(Error::new(
                Status::Store,
                "the stored code does not match the stored license: activate again",
            ));
        }
        let keys = snapshot.keys.clone().ok_or_else(|| {
            Error::new(
                Status::Internal,
                "keys were not loaded for a stored license",
            )
        })?;
        Ok(Some((
            code,
            binding,
            keys,
            snapshot.fingerprint.as_str().to_owned(),
        )))
    }

    fn ask(
        &self,
        server: &Server,
        path: &str,
        body: Value,
        binding: &Binding,
        keys: &koolicense_core::keys::Verifier,
    ) -> Result<(SignedAnswer, Verified), Error> {
        ask(server, path, body, binding, keys, self.options().timeout())
    }
}

/// POSTs `body` with a fresh nonce and returns the answer once its signature and nonce
/// verify; anything else is [`Status::Network`].
fn ask(
    server: &Server,
    path: &str,
    mut body: Value,
    binding: &Binding,
    keys: &koolicense_core::keys::Verifier,
    timeout: std::time::Duration,
) -> Result<(SignedAnswer, Verified), Error> {
    let nonce = binding.new_nonce();
    body["nonce"] = Value::String(nonce.clone());
    let answer = server.post(path, &body, timeout)?;
    let verified = answer.verify(keys, |echoed| echoed == nonce).map_err(|e| {
        Error::new(
            Status::Network,
            format!("the server's answer failed verification: {e}"),
        )
    })?;
    Ok((answer, verified))
}

/// A license from a check-in: it must verify for this machine and be the same license.
fn renewal(
    text: &str,
    binding: &Binding,
    keys: &koolicense_core::keys::Verifier,
    fingerprint: &str,
) -> Result<String, Error> {
    let payload = license::verify_signed(text, keys, Some(fingerprint))
        .map_err(|e| Error::new(Status::InvalidLicense, format!("renewed license: {e}")))?;
    if payload.code_sha256.as_deref() != Some(binding.code_sha256.as_str()) {
        return Err(Error::new(
            Status::InvalidLicense,
            "the renewed license is for another code",
        ));
    }
    Ok(text.to_owned())
}

/// An activation the server refused: a verdict for the license refusals, an error otherwise.
fn refused(verified: &Verified) -> Result<Verdict, Error> {
    let status = match verified.text("code") {
        Some("LICENSE_FROZEN") => Status::Frozen,
        Some("LICENSE_EXPIRED") => Status::Expired,
        Some("LICENSE_RELEASED") => Status::Released,
        Some("LICENSE_REVOKED") => Status::Revoked,
        _ => return Err(operational(verified)),
    };
    into_result(crate::verdict::Decision {
        status,
        reason: message(verified),
        due: false,
    })
    .map(|(verdict, _)| verdict)
}

/// The status of an error answer.
fn operational(verified: &Verified) -> Error {
    let status = match (verified.http_status, verified.text("code")) {
        (_, Some("SEAT_LIMIT_REACHED")) => Status::SeatLimitReached,
        (_, Some("CODE_NOT_FOUND")) => Status::CodeNotFound,
        (_, Some("CODE_NOT_CLAIMED")) => Status::CodeNotClaimed,
        (_, Some("INVALID_REQUEST")) => Status::InvalidArgument,
        (_, Some("MARKETPLACE_UNAVAILABLE")) => Status::Network,
        (429, _) => Status::RateLimited,
        _ => Status::Internal,
    };
    Error::new(status, message(verified))
}

fn message(verified: &Verified) -> String {
    let code = verified.text("code").unwrap_or("?");
    let text = verified.text("message").unwrap_or_default();
    format!(
        "the server answered {} {code}: {text}",
        verified.http_status
    )
}

/// An authorization code as the server accepts it: 1–64 printable ASCII, no spaces.
fn check_code(code: &str) -> Result<(), Error> {
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid_argument(
            "code must be 1 to 64 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

/// This machine's host name, for support's view of bindings.
fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty() && name.len() <= 255)
}

/// `koolicense-client offline-activate`, on a connected machine: turns an air-gapped machine's
/// request file (`kl_offline_request`) into its license file, with `POST /v1/activate`. The
/// answer and the license are verified (with `public_keys_json`, or the server's `/v1/keys`)
/// for the requesting machine before the license text is returned.
pub fn offline_activate(
    server_url: &str,
    request_json: &str,
    public_keys_json: Option<&str>,
    timeout_ms: u32,
) -> Result<String, Error> {
    let request: Value = serde_json::from_str(request_json)
        .map_err(|e| Error::invalid_argument(format!("the request file is not JSON: {e}")))?;
    if request.get("v").and_then(Value::as_u64) != Some(1) {
        return Err(Error::invalid_argument("the request file is not version 1"));
    }
    let field = |name: &str| request.get(name).and_then(Value::as_str);
    let code = field("code").ok_or_else(|| Error::invalid_argument("the request has no code"))?;
    check_code(code)?;
    let fingerprint = field("fingerprint")
        .map(koolicense_core::fingerprint::Fingerprint::parse)
        .ok_or_else(|| Error::invalid_argument("the request has no fingerprint"))?
        .map_err(|e| Error::invalid_argument(format!("the request's fingerprint: {e}")))?;
    let server = Server::parse(server_url)?;
    let mut options = crate::Options::default();
    options.set("timeout_ms", &timeout_ms.to_string())?;
    let keys_json = match public_keys_json {
        Some(json) => json.to_owned(),
        None => server.keys(options.timeout())?,
    };
    let keys = koolicense_core::keys::Verifier::from_keys_json(&keys_json)
        .map_err(|e| Error::invalid_argument(e.to_string()))?;
    let binding = Binding {
        code_sha256: code_sha256(code),
        fingerprint_sha256: fingerprint.sha256_hex(),
    };
    let mut body = json!({"code": code, "fingerprint": fingerprint.as_str()});
    if let Some(hostname) = field("hostname") {
        body["hostname"] = Value::String(hostname.to_owned());
    }
    let (_, verified) = ask(
        &server,
        "/v1/activate",
        body,
        &binding,
        &keys,
        options.timeout(),
    )?;
    if !matches!(verified.http_status, 200 | 201) {
        return Err(match refused(&verified) {
            Ok(verdict) => Error::new(verdict.status(), verdict.reason()),
            Err(error) => error,
        });
    }
    let text = verified
        .text("license")
        .ok_or_else(|| Error::new(Status::Internal, "the answer carries no license"))?;
    license::verify_signed(text, &keys, Some(fingerprint.as_str()))
        .map_err(|e| Error::new(Status::InvalidLicense, e.to_string()))?;
    Ok(text.to_owned())
}
