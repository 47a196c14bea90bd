//! `Vault` (R33): IndexedDB records encrypted with a non-extractable AES-GCM WebCrypto key kept in
//! IndexedDB (`vaultGet` / `vaultPut` / `vaultDelete` in `shell.js`); for `session` storage the
//! same encryption with the tab's own sessionStorage as the place (a tab's secrets end with it);
//! the page's memory for `memory` storage, or where IndexedDB is missing.

use std::cell::RefCell;
use std::collections::BTreeMap;

use js_sys::Promise;
use wasm_bindgen::JsValue;
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
    #[wasm_bindgen(js_name = sealedGet)]
    fn sealed_get(db: &str, name: &str) -> Promise;
    #[wasm_bindgen(js_name = sealedPut)]
    fn sealed_put(db: &str, name: &str, value: &str) -> Promise;
}

pub enum BrowserVault {
    /// The IndexedDB database of that name.
    IndexedDb(String),
    /// sessionStorage, sealed with the key of the IndexedDB database of that name.
    Session(String),
    Memory(RefCell<BTreeMap<String, String>>),
}

fn refused(e: JsValue) -> McpError {
    McpError::new(ErrorCode::StorageUnavailable, format!("the vault refused a write: {}", js_message(&e)))
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
            BrowserVault::IndexedDb(db) => JsFuture::from(vault_put(db, key, value)).await.map(drop).map_err(refused),
            BrowserVault::Session(db) => JsFuture::from(sealed_put(db, key, value)).await.map(drop).map_err(refused),
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
}
