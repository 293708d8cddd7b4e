//! placeholder
use std::path::Path;
pub struct KeyStore;
pub struct KeyInfo { pub kid: String, pub status: String, pub public_key_b64: String }
impl KeyStore {
    pub fn load_or_generate_dev(_d: &Path) -> anyhow::Result<(KeyStore, bool)> { Ok((KeyStore, false)) }
    pub fn active_kid(&self) -> &str { "" }
    pub fn generate(_d: &Path) -> anyhow::Result<String> { Ok(String::new()) }
    pub fn rotate(_d: &Path) -> anyhow::Result<String> { Ok(String::new()) }
    pub fn list(_d: &Path) -> anyhow::Result<Vec<KeyInfo>> { Ok(vec![]) }
}
pub fn verifier_from_public_key_file(_p: &Path) -> anyhow::Result<KeyStore> { Ok(KeyStore) }
pub fn verifier_from_keys_json(_p: &str) -> anyhow::Result<KeyStore> { Ok(KeyStore) }
