//! `Vault` (R33): IndexedDB records encrypted with a non-extractable AES-GCM WebCrypto key kept in
//! IndexedDB (`vaultGet` / `vaultPut` / `vaultDelete` in `shell.js`), or the page's memory for
//! `session` and `memory` storage, whose refresh tokens must not outlive the page's session.

use std::cell::RefCell;
use std::collections::BTreeMap;

use js_sys::Promise;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::JsFuture;

use super::js_message;
use crate::core::error::{ErrorCode, McpError};
use crate::flow::Vault;

#[wasm_bindgen(module = "/src/browser/shell.js")]
extern "C" {
    #[wasm_bindgen(js_name = vaultGet)]
    fn vault_get(db: &str, name: &str) -> Promise;
    #[wasm_bindgen(js_name = vaultPut)]
    fn vault_put(db: &str, name: &str, value: &str) -> Promise;
    #[wasm_bindgen(js_name = vaultDelete)]
    fn vault_delete(db: &str, name: &str) -> Promise;
}

pub enum BrowserVault {
    /// The IndexedDB database of that name.
    IndexedDb(String),
    Memory(RefCell<BTreeMap<String, String>>),
}

impl Vault for BrowserVault {
    async fn get(&self, key: &str) -> Option<String> {
        match self {
            BrowserVault::IndexedDb(db) => JsFuture::from(vault_get(db, key)).await.ok()?.as_string(),
            BrowserVault::Memory(m) => m.borrow().get(key).cloned(),
        }
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), McpError> {
        match self {
            BrowserVault::IndexedDb(db) => JsFuture::from(vault_put(db, key, value))
                .await
                .map(drop)
                .map_err(|e| McpError::new(ErrorCode::StorageUnavailable, format!("IndexedDB refused a write: {}", js_message(&e)))),
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
            BrowserVault::Memory(m) => {
                m.borrow_mut().remove(key);
            }
        }
    }
}
