//! License files (`api.md` §5): the format lives in [`koolicense_core::license`], shared with the
//! client SDK; the server signs with its [`crate::keys::KeyStore`].

pub use koolicense_core::license::*;
