//! `Vault` (R33): IndexedDB records encrypted with a non-extractable AES-GCM WebCrypto key kept in
//! IndexedDB (`vaultGet` / `vaultPut` / `vaultDelete` in `vault.js`); for `session` storage the
//! same encryption with the tab's own sessionStorage as the place (a tab's secrets end with it);
//! the page's memory for `memory` storage, or where IndexedDB is missing.
//!
//! DPoP keys (R34, RFC 9449): one ECDSA P-256 pair per issuer, made by WebCrypto with a private
//! half that cannot be exported, kept as a `CryptoKeyPair` in the same IndexedDB database, or in
//! the page's memory for `memory` storage. For `session` storage the key is the tab's own (its
//! name carries the tab's id from sessionStorage): it outlives a reload, as the tab's bound
//! refresh token does, and another tab forgetting the server cannot delete it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::JsFuture;

use super::js_message;
use crate::core::error::{ErrorCode, McpError};
use crate::flow::Vault;

#[wasm_bindgen(module = "/src/browser/vault.js")]
extern "C" {
    #[wasm_bindgen(js_name = vaultGet)]
    fn vault_get(db: &str, name: &str) -> Promise;
    #[wasm_bindgen(js_name = vaultPut)]
    fn vault_put(db: &str, name: &str, value: &str) -> Promise;
    #[wasm_bindgen(js_name = vaultDelete)]
    fn vault_delete(db: &str, name: &str) -> Promise;
    #[wasm_bindgen(js_name = sealedGet)]
    fn sealed_get(db: &str, name: &str) -> Promise;
    #[wasm_bindgen(js_name = sealedPut)]
    fn sealed_put(db: &str, name: &str, value: &str) -> Promise;
    #[wasm_bindgen(js_name = dpopPublicKey)]
    fn dpop_public_key(db: Option<&str>, name: &str) -> Promise;
    #[wasm_bindgen(js_name = dpopSign)]
    fn dpop_sign(db: Option<&str>, name: &str, data: &[u8]) -> Promise;
    #[wasm_bindgen(js_name = dpopDelete)]
    fn dpop_delete(db: Option<&str>, name: &str) -> Promise;
    #[wasm_bindgen(js_name = tabId, catch)]
    fn tab_id() -> Result<String, JsValue>;
}

/// `Vault` for the `storage` option (R26, R33): IndexedDB for `local`, sealed sessionStorage for
/// `session`, else the page's memory.
pub enum BrowserVault {
    /// The IndexedDB database of that name.
    IndexedDb(String),
    /// sessionStorage, sealed with the key of the IndexedDB database of that name.
    Session(String),
    /// The page's memory (`memory` storage): nothing outlives the page (R25).
    Memory(RefCell<BTreeMap<String, String>>),
}

impl BrowserVault {
    /// The database DPoP keys live in; `None`: this page's memory.
    fn key_db(&self) -> Option<&str> {
        match self {
            BrowserVault::IndexedDb(db) | BrowserVault::Session(db) => Some(db),
            BrowserVault::Memory(_) => None,
        }
    }

    /// A DPoP key's name: for `session` storage, the tab's own.
    fn key_name(&self, name: &str) -> Result<String, McpError> {
        match self {
            BrowserVault::Session(_) => Ok(format!("{name}@{}", tab_id().map_err(no_key)?)),
            _ => Ok(name.to_string()),
        }
    }
}

fn no_key(e: JsValue) -> McpError {
    McpError::new(
        ErrorCode::StorageUnavailable,
        format!("the DPoP key is not available: {}", js_message(&e)),
    )
}

fn refused(e: JsValue) -> McpError {
    McpError::new(
        ErrorCode::StorageUnavailable,
        format!("the vault refused a write: {}", js_message(&e)),
    )
}

impl Vault for BrowserVault {
    async fn get(&self, key: &str) -> Option<String> {
        match self {
            BrowserVault::IndexedDb(db) => JsFuture::from(vault_get(db, key)).await.ok()?.as_string(),
            BrowserVault::Session(db) => JsFuture::from(sealed_get(db, key)).await.ok()?.as_string(),
            BrowserVault::Memory(m) => m.borrow().get(key).cloned(),
        }
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), McpError> {
        match self {
            BrowserVault::IndexedDb(db) => JsFuture::from(vault_put(db, key, value))
                .await
                .map(drop)
                .map_err(refused),
            BrowserVault::Session(db) => JsFuture::from(sealed_put(db, key, value))
                .await
                .map(drop)
                .map_err(refused),
            BrowserVault::Memory(m) => {
                m.borrow_mut().insert(key.to_string(), value.to_string());
                Ok(())
            }
        }
    }

    async fn delete(&self, key: &str) {
        match self {
            BrowserVault::IndexedDb(db) => {
                let _ = JsFuture::from(vault_delete(db, key)).await;
            }
            BrowserVault::Session(_) => {
                if let Some(s) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
                    let _ = s.remove_item(key);
                }
            }
            BrowserVault::Memory(m) => {
                m.borrow_mut().remove(key);
            }
        }
    }

    async fn dpop_public_key(&self, name: &str) -> Result<String, McpError> {
        let jwk = JsFuture::from(dpop_public_key(self.key_db(), &self.key_name(name)?))
            .await
            .map_err(no_key)?;
        jwk.as_string().ok_or_else(|| no_key(JsValue::from_str("not a JWK")))
    }

    async fn dpop_sign(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, McpError> {
        let signature = JsFuture::from(dpop_sign(self.key_db(), &self.key_name(name)?, input))
            .await
            .map_err(no_key)?;
        Ok(js_sys::Uint8Array::new(&signature).to_vec())
    }

    async fn dpop_delete(&self, name: &str) {
        if let Ok(name) = self.key_name(name) {
            let _ = JsFuture::from(dpop_delete(self.key_db(), &name)).await;
        }
    }
}
