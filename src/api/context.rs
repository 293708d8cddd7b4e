//! What the client API keeps in memory per server, and the [`Client`] extractor that hands it to
//! handlers together with the caller's address and its unknown-code budget ([`Lookup`]).
//!
//! Limits are shared by all workers of a server, so the server builds its [`ClientApi`] once, in
//! [`AppState`].

use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::client_address::{client_address, limit_key};
use super::rate_limit::Limits;
use crate::config::{ForwardedHeader, Settings, TrustedProxies};
use crate::error::ApiError;
use crate::startup::AppState;

/// In-memory state of one server's client API.
#[derive(Debug)]
pub struct ClientApi {
    /// Abuse limits.
    pub limits: Limits,
    /// Peers whose forwarded-for header names the client.
    trusted_proxies: TrustedProxies,
    /// The header they set.
    forwarded_header: ForwardedHeader,
}

impl ClientApi {
    /// Fresh state for a server with these settings.
    pub fn new(settings: &Settings) -> Self {
        Self {
            limits: Limits::new(settings),
            trusted_proxies: settings.client_api.trusted_proxies.clone(),
            forwarded_header: settings.client_api.forwarded_header,
        }
    }

    /// The address the limits count `req` against ([`super::client_address`]).
    pub fn limit_key(&self, req: &HttpRequest) -> IpAddr {
        let peer = req.peer_addr().map(|addr| addr.ip());
        limit_key(client_address(
            peer,
            req.headers(),
            &self.trusted_proxies,
            self.forwarded_header,
        ))
    }

    /// The state of the server handling `req`.
    pub fn of(req: &HttpRequest) -> Result<Arc<Self>, ApiError> {
        req.app_data::<web::Data<AppState>>()
            .map(|state| Arc::clone(&state.client_api))
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState is not registered")))
    }
}

/// A client-API caller: its address (for the limits) and its server's [`ClientApi`].
#[derive(Debug, Clone)]
pub struct Client {
    /// The address the limits count against.
    pub ip: IpAddr,
    /// The server's in-memory client-API state.
    pub api: Arc<ClientApi>,
}

impl Client {
    /// Takes a unit of the caller's unknown-code budget ([`Limits::take_lookup`]): call before
    /// reading anything about the code, so that a caller whose budget is spent gets the same
    /// `429` for every code, and simultaneous requests cannot look up more than the budget.
    pub async fn lookup(&self) -> Result<Lookup, ApiError> {
        self.api.limits.take_lookup(self.ip).await?;
        Ok(Lookup {
            api: Arc::clone(&self.api),
            ip: self.ip,
            open: true,
        })
    }
}

/// A unit of a caller's unknown-code budget, held while its code is looked up. Handed back by
/// [`Lookup::found`] once the code is known to exist; dropped otherwise, it stays spent: a code
/// KooGallery does not know, a marketplace that did not answer, a request cut short.
#[must_use = "hand the unit back with `found` once the code is known to exist"]
pub struct Lookup {
    api: Arc<ClientApi>,
    ip: IpAddr,
    open: bool,
}

impl std::fmt::Debug for Lookup {
    // Without the address: client addresses stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl crate::service::Lookup for Lookup {
    fn found(mut self) {
        self.open = false;
        self.api.limits.hand_back(self.ip);
    }
}

impl Drop for Lookup {
    fn drop(&mut self) {
        if self.open {
            self.api.limits.settle(self.ip);
        }
    }
}

impl FromRequest for Client {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(ClientApi::of(req).map(|api| Client {
            ip: api.limit_key(req),
            api,
        }))
    }
}
