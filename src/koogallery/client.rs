//! KooGallery open-API client (placeholder until the client lands).

use crate::config::Settings;
use crate::db::Pool;

/// Calls KooGallery's open APIs.
pub struct MarketplaceClient;

impl MarketplaceClient {
    /// A client for the configured marketplace.
    pub fn new(_settings: &Settings, _pool: Pool) -> anyhow::Result<Self> {
        Ok(Self)
    }
}
