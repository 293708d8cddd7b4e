//! The C API of `client.md` §2. `include/koolicense.h` is generated from this file by cbindgen
//! (a test fails when the committed header is stale).
//!
//! Every function catches panics (none crosses the ABI: a caught one answers `KL_INTERNAL`),
//! checks its pointers (NULL or non-UTF-8 answers `KL_INVALID_ARGUMENT`), and never blocks
//! longer than `timeout_ms` per HTTP request. A handle may be shared between threads;
//! `kl_last_error` keeps one message per thread and handle.
//!
//! # Safety
//!
//! For every function: string arguments are NULL or point to NUL-terminated strings; `c` is
//! NULL or a handle from `kl_open` not yet given to `kl_close`; strings from `kl_fingerprint`
//! and `kl_license_json` are freed once, with `kl_string_free`.
#![expect(unsafe_code, reason = "the C ABI takes raw pointers from C callers")]
#![expect(
    clippy::missing_safety_doc,
    reason = "one contract for every function, in the module documentation and the header"
)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;

use crate::{Client, Error, Status, Verdict};

/// A license verified for this machine, within its validity.
pub const KL_OK: c_int = 0;
/// As `KL_OK`, but a check-in is due and the server has not answered since; the software may run.
pub const KL_GRACE: c_int = 1;
/// Past `expires_at`, or the server says `EXPIRED`.
pub const KL_EXPIRED: c_int = 2;
/// The server says `FROZEN`.
pub const KL_FROZEN: c_int = 3;
/// The server says `RELEASED`.
pub const KL_RELEASED: c_int = 4;
/// The server says `REVOKED`.
pub const KL_REVOKED: c_int = 5;
/// No license stored (or the server says `NOT_ACTIVATED`).
pub const KL_NOT_ACTIVATED: c_int = 6;
/// The stored license belongs to another machine.
pub const KL_FINGERPRINT_MISMATCH: c_int = 7;
/// A check-in has been due for more than `grace_days` without a signed answer.
pub const KL_GRACE_OVER: c_int = 8;
/// The clock is earlier, by more than `clock_tolerance_s`, than a time already seen.
pub const KL_CLOCK_TAMPERED: c_int = 9;
/// Activation refused: every seat is taken.
pub const KL_SEAT_LIMIT_REACHED: c_int = 10;
/// Activation refused: no such code.
pub const KL_CODE_NOT_FOUND: c_int = 11;
/// Activation refused: the buyer must claim the code first.
pub const KL_CODE_NOT_CLAIMED: c_int = 12;
/// The server answered 429.
pub const KL_RATE_LIMITED: c_int = 13;
/// The server could not be reached, or its answer failed verification; nothing changed.
pub const KL_NETWORK: c_int = 14;
/// A license file fails verification (signature, key, format).
pub const KL_INVALID_LICENSE: c_int = 15;
/// A NULL or malformed argument, an unknown option.
pub const KL_INVALID_ARGUMENT: c_int = 16;
/// `data_dir` cannot be read or written.
pub const KL_STORE: c_int = 17;
/// Anything else (the server's 5xx included).
pub const KL_INTERNAL: c_int = 18;

/// A client handle: one data directory and one server (or none).
#[expect(non_camel_case_types, reason = "the C name of client.md")]
pub struct kl_client {
    client: Client,
    /// The last error message of each thread that used this handle.
    errors: Mutex<HashMap<ThreadId, CString>>,
}

thread_local! {
    static OPEN_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Opens a client. `server_url`: the license server, or NULL for an air-gapped machine (no
/// network calls ever). `data_dir`: created 0700 if missing. `public_keys_json`: NULL, or the
/// document of `GET /v1/keys` embedded at build time (recommended). NULL on failure: see
/// `kl_open_error()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_open(
    server_url: *const c_char,
    data_dir: *const c_char,
    public_keys_json: *const c_char,
) -> *mut kl_client {
    let opened = catch_unwind(|| {
        let server = unsafe { optional(server_url, "server_url") }?;
        let dir = unsafe { required(data_dir, "data_dir") }?;
        let keys = unsafe { optional(public_keys_json, "public_keys_json") }?;
        let mut builder = Client::builder(dir);
        if let Some(server) = server {
            builder = builder.server(server);
        }
        if let Some(keys) = keys {
            builder = builder.public_keys(keys);
        }
        builder.open()
    })
    .unwrap_or_else(|_| Err(Error::new(Status::Internal, "kl_open panicked")));
    match opened {
        Ok(client) => Box::into_raw(Box::new(kl_client {
            client,
            errors: Mutex::new(HashMap::new()),
        })),
        Err(error) => {
            OPEN_ERROR.with(|slot| *slot.borrow_mut() = c_string(&error.to_string()));
            std::ptr::null_mut()
        }
    }
}

/// Why the last `kl_open` on this thread failed (valid until the next `kl_open` on it).
#[unsafe(no_mangle)]
pub extern "C" fn kl_open_error() -> *const c_char {
    OPEN_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// Closes a client; NULL is ignored. No other call may use `c` after this.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_close(c: *mut kl_client) {
    if !c.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(c) })));
    }
}

/// Sets an option: `check_in_hours` (24), `grace_days` (7), `clock_tolerance_s` (300),
/// `timeout_ms` (5000), values as decimal strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_set_option(
    c: *mut kl_client,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    unsafe {
        call(c, |client| {
            let name = required(name, "name")?;
            let value = required(value, "value")?;
            client.set_option(name, value).map(|()| ok())
        })
    }
}

/// Uses `fingerprint` instead of this machine's (for platforms whose collection the SDK does
/// not implement).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_set_fingerprint(
    c: *mut kl_client,
    fingerprint: *const c_char,
) -> c_int {
    unsafe {
        call(c, |client| {
            client
                .set_fingerprint(required(fingerprint, "fingerprint")?)
                .map(|()| ok())
        })
    }
}

/// This machine's fingerprint (`MAC|disk|board|cpu`), or NULL when none can be read. Free it
/// with `kl_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_fingerprint() -> *mut c_char {
    catch_unwind(|| crate::this_machine().map(|fp| c_string(fp.as_str()).into_raw()))
        .ok()
        .flatten()
        .unwrap_or(std::ptr::null_mut())
}

/// Activates `code` on this machine and stores the license.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_activate(c: *mut kl_client, code: *const c_char) -> c_int {
    unsafe { call(c, |client| client.activate(required(code, "code")?)) }
}

/// Offline: the stored license, the clock, the grace rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_check(c: *mut kl_client) -> c_int {
    unsafe { call(c, Client::check) }
}

/// Online now: `POST /v1/check-in`; stores the verdict and a newer license.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_check_in(c: *mut kl_client) -> c_int {
    unsafe { call(c, Client::check_in) }
}

/// `kl_check`, plus `kl_check_in` when one is due. Cheap when none is due: call it at every start.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_is_genuine(c: *mut kl_client) -> c_int {
    unsafe { call(c, Client::is_genuine) }
}

/// Frees this machine's seat, then forgets the license.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_deactivate(c: *mut kl_client) -> c_int {
    unsafe { call(c, Client::deactivate) }
}

/// Writes the request file of an air-gapped activation to `request_path`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_offline_request(
    c: *mut kl_client,
    code: *const c_char,
    request_path: *const c_char,
) -> c_int {
    unsafe {
        call(c, |client| {
            let code = required(code, "code")?;
            let path = required(request_path, "request_path")?;
            client.offline_request(code, Path::new(path)).map(|()| ok())
        })
    }
}

/// Verifies the license file at `license_path` for this machine and stores it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_offline_install(
    c: *mut kl_client,
    license_path: *const c_char,
) -> c_int {
    unsafe {
        call(c, |client| {
            client.offline_install(Path::new(required(license_path, "license_path")?))
        })
    }
}

/// The verified payload of the stored license as JSON, or NULL. Free it with `kl_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_license_json(c: *mut kl_client) -> *mut c_char {
    let Some(handle) = (unsafe { c.as_ref() }) else {
        return std::ptr::null_mut();
    };
    let json = catch_unwind(AssertUnwindSafe(|| {
        let payload = handle.client.license().ok().flatten()?;
        serde_json::to_string(&payload).ok()
    }));
    match json {
        Ok(Some(json)) => c_string(&json).into_raw(),
        _ => std::ptr::null_mut(),
    }
}

/// One line about the last non-OK call on `c` from this thread (valid until the next call on
/// `c` from this thread); empty when there was none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_last_error(c: *mut kl_client) -> *const c_char {
    let Some(handle) = (unsafe { c.as_ref() }) else {
        return c"c is NULL".as_ptr();
    };
    let errors = handle.errors.lock().unwrap_or_else(PoisonError::into_inner);
    errors
        .get(&std::thread::current().id())
        .map_or(c"".as_ptr(), |message| message.as_ptr())
}

/// The name of a status: `"KL_OK"`, `"KL_GRACE"`, ...; `"KL_UNKNOWN"` for another value.
#[unsafe(no_mangle)]
pub extern "C" fn kl_status_name(status: c_int) -> *const c_char {
    Status::from_code(status).map_or(c"KL_UNKNOWN".as_ptr(), |status| status.c_name().as_ptr())
}

/// Frees a string returned by this library; NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kl_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(unsafe { CString::from_raw(s) });
    }
}

/// Runs `f` on the handle: NULL is `KL_INVALID_ARGUMENT`, a panic `KL_INTERNAL`; the message
/// of a non-OK outcome is kept for `kl_last_error`.
unsafe fn call(c: *mut kl_client, f: impl FnOnce(&Client) -> Result<Verdict, Error>) -> c_int {
    let Some(handle) = (unsafe { c.as_ref() }) else {
        return KL_INVALID_ARGUMENT;
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&handle.client)))
        .unwrap_or_else(|_| Err(Error::new(Status::Internal, "the call panicked")));
    let (status, message) = match outcome {
        Ok(verdict) => (verdict.status(), verdict.reason().to_owned()),
        Err(error) => (error.status(), error.message().to_owned()),
    };
    if status != Status::Ok {
        let mut errors = handle.errors.lock().unwrap_or_else(PoisonError::into_inner);
        errors.insert(std::thread::current().id(), c_string(&message));
    }
    status.code()
}

fn ok() -> Verdict {
    Verdict::new(Status::Ok, "")
}

/// The string at `p`; NULL or non-UTF-8 is an invalid argument named `what`.
unsafe fn required<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    unsafe { optional(p, what) }?.ok_or_else(|| Error::invalid_argument(format!("{what} is NULL")))
}

unsafe fn optional<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        return Ok(None);
    }
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map(Some)
        .map_err(|_| Error::invalid_argument(format!("{what} is not UTF-8")))
}

/// A C string of `text`, with any NUL replaced (a message never contains one).
fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_c_constants_are_the_status_values() {
        let constants = [
            KL_OK,
            KL_GRACE,
            KL_EXPIRED,
            KL_FROZEN,
            KL_RELEASED,
            KL_REVOKED,
            KL_NOT_ACTIVATED,
            KL_FINGERPRINT_MISMATCH,
            KL_GRACE_OVER,
            KL_CLOCK_TAMPERED,
            KL_SEAT_LIMIT_REACHED,
            KL_CODE_NOT_FOUND,
            KL_CODE_NOT_CLAIMED,
            KL_RATE_LIMITED,
            KL_NETWORK,
            KL_INVALID_LICENSE,
            KL_INVALID_ARGUMENT,
            KL_STORE,
            KL_INTERNAL,
        ];
        for (constant, status) in constants.into_iter().zip(Status::all()) {
            assert_eq!(constant, status.code(), "{status}");
            let name = unsafe { CStr::from_ptr(kl_status_name(constant)) };
            assert_eq!(name.to_str().ok(), Some(status.name()));
        }
        let unknown = unsafe { CStr::from_ptr(kl_status_name(99)) };
        assert_eq!(unknown, c"KL_UNKNOWN");
    }

    #[test]
    fn null_arguments_are_refused_not_dereferenced() {
        unsafe {
            assert!(kl_open(std::ptr::null(), std::ptr::null(), std::ptr::null()).is_null());
            let why = CStr::from_ptr(kl_open_error())
                .to_string_lossy()
                .into_owned();
            assert!(why.contains("data_dir is NULL"), "{why}");
            assert_eq!(kl_check(std::ptr::null_mut()), KL_INVALID_ARGUMENT);
            assert!(kl_license_json(std::ptr::null_mut()).is_null());
            kl_close(std::ptr::null_mut());
            kl_string_free(std::ptr::null_mut());
        }
    }
}
