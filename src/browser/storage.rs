//! `Store` over localStorage, sessionStorage or memory (R25). (web-sys directly: gloo-storage's
//! handles throw when a storage is disabled, and R32 wants a typed error instead.)

#[allow(unused_imports)]
use crate::prelude::*;

use core::cell::Cell;

use crate::core::error::{ErrorCode, McpError};
use crate::flow::Store;

pub enum BrowserStore {
    Web(web_sys::Storage),
    /// A plain list: a handful of keys, and no BTreeMap code in the module (size). A `Cell`,
    /// taken and put back (no `RefCell` panic path).
    Memory(Cell<Vec<(String, String)>>),
}

impl BrowserStore {
    /// `"local"` (default), `"session"` or `"memory"`.
    pub fn open(kind: &str) -> Result<BrowserStore, McpError> {
        let unavailable = || McpError::new(ErrorCode::StorageUnavailable, cat!(kind, "Storage is not available"));
        let window = super::window()?;
        let web = match kind {
            "local" => window.local_storage(),
            "session" => window.session_storage(),
            "memory" => return Ok(BrowserStore::Memory(Cell::default())),
            _ => return Err(McpError::new(ErrorCode::InvalidInput, "storage must be \"local\", \"session\" or \"memory\"")),
        };
        web.ok().flatten().map(BrowserStore::Web).ok_or_else(unavailable)
    }
}

impl Store for BrowserStore {
    fn get(&self, key: &str) -> Option<String> {
        match self {
            BrowserStore::Web(s) => s.get_item(key).ok().flatten(),
            BrowserStore::Memory(m) => with(m, |all| all.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())),
        }
    }
    fn set(&self, key: &str, value: &str) -> Result<(), McpError> {
        match self {
            BrowserStore::Web(s) => s
                .set_item(key, value)
                .map_err(|e| McpError::new(ErrorCode::StorageUnavailable, cat!("storage refused a write: ", super::js_message(&e)))),
            BrowserStore::Memory(m) => {
                with(m, |all| {
                    all.retain(|(k, _)| k != key);
                    all.push((key.to_string(), value.to_string()));
                });
                Ok(())
            }
        }
    }
    fn remove(&self, key: &str) {
        match self {
            BrowserStore::Web(s) => {
                let _ = s.remove_item(key);
            }
            BrowserStore::Memory(m) => {
                with(m, |all| all.retain(|(k, _)| k != key));
            }
        }
    }
    fn keys(&self) -> Vec<String> {
        match self {
            BrowserStore::Web(s) => {
                let n = s.length().unwrap_or(0);
                (0..n).filter_map(|i| s.key(i).ok().flatten()).collect()
            }
            BrowserStore::Memory(m) => with(m, |all| all.iter().map(|(k, _)| k.clone()).collect()),
        }
    }
}

/// Runs `f` on the memory store's list, taken out of its cell and put back.
fn with<T>(m: &Cell<Vec<(String, String)>>, f: impl FnOnce(&mut Vec<(String, String)>) -> T) -> T {
    let mut all = m.take();
    let out = f(&mut all);
    m.set(all);
    out
}
