//! `Store` over localStorage or sessionStorage (gloo-storage, its serde `get`/`set`) or the
//! page's memory (R25).

use std::cell::RefCell;
use std::collections::BTreeMap;

use gloo_storage::errors::StorageError;
use gloo_storage::{LocalStorage, SessionStorage, Storage};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::error::{ErrorCode, McpError};
use crate::flow::{Corrupt, Store};

/// `Store` over the storage the `storage` option names (R25).
pub enum BrowserStore {
    /// localStorage: shared by the origin's tabs, kept across sessions (the default).
    Local,
    /// sessionStorage: this tab only, until it closes.
    Session,
    /// JSON texts, as the web storages keep them.
    Memory(RefCell<BTreeMap<String, String>>),
}

impl BrowserStore {
    /// `"local"` (default), `"session"` or `"memory"`. gloo-storage's handles panic when there
    /// is no window or the storage is disabled (R32, R36): both are checked here first.
    pub fn open(kind: &str) -> Result<BrowserStore, McpError> {
        let window = super::window()?;
        let (store, web) = match kind {
            "local" => (BrowserStore::Local, window.local_storage()),
            "session" => (BrowserStore::Session, window.session_storage()),
            "memory" => return Ok(BrowserStore::Memory(RefCell::default())),
            _ => {
                return Err(McpError::new(
                    ErrorCode::InvalidInput,
                    "option storage must be \"local\", \"session\" or \"memory\"",
                ));
            }
        };
        // a write that fails here (disabled, full, a private mode with no quota) would fail later
        let writable = |s: &web_sys::Storage| {
            const PROBE: &str = "mcp-oauth:probe";
            let ok = s.set_item(PROBE, "1").is_ok();
            let _ = s.remove_item(PROBE);
            ok
        };
        match web {
            Ok(Some(s)) if writable(&s) => Ok(store),
            _ => Err(McpError::new(
                ErrorCode::StorageUnavailable,
                format!("{kind}Storage is not available"),
            )),
        }
    }

    fn raw(&self) -> Option<web_sys::Storage> {
        match self {
            BrowserStore::Local => Some(LocalStorage::raw()),
            BrowserStore::Session => Some(SessionStorage::raw()),
            BrowserStore::Memory(_) => None,
        }
    }
}

fn read<T>(r: Result<T, StorageError>) -> Option<Result<T, Corrupt>> {
    match r {
        Ok(v) => Some(Ok(v)),
        Err(StorageError::KeyNotFound(_)) => None,
        Err(_) => Some(Err(Corrupt)),
    }
}

fn refused(e: StorageError) -> McpError {
    McpError::new(ErrorCode::StorageUnavailable, format!("storage refused a write: {e}"))
}

impl Store for BrowserStore {
    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, Corrupt>> {
        match self {
            BrowserStore::Local => read(LocalStorage::get(key)),
            BrowserStore::Session => read(SessionStorage::get(key)),
            BrowserStore::Memory(m) => m
                .borrow()
                .get(key)
                .map(|text| serde_json::from_str(text).map_err(|_| Corrupt)),
        }
    }

    fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<(), McpError> {
        match self {
            BrowserStore::Local => LocalStorage::set(key, value).map_err(refused),
            BrowserStore::Session => SessionStorage::set(key, value).map_err(refused),
            BrowserStore::Memory(m) => {
                let text = serde_json::to_string(value).map_err(|e| refused(StorageError::SerdeError(e)))?;
                m.borrow_mut().insert(key.to_string(), text);
                Ok(())
            }
        }
    }

    fn remove(&self, key: &str) {
        match self {
            BrowserStore::Local => LocalStorage::delete(key),
            BrowserStore::Session => SessionStorage::delete(key),
            BrowserStore::Memory(m) => {
                m.borrow_mut().remove(key);
            }
        }
    }

    fn shares_keys_with(&self, other: &Self) -> bool {
        match (self, other) {
            (BrowserStore::Local, BrowserStore::Local) | (BrowserStore::Session, BrowserStore::Session) => true,
            (BrowserStore::Memory(a), BrowserStore::Memory(b)) => std::ptr::eq(a, b),
            _ => false,
        }
    }

    fn keys(&self) -> Vec<String> {
        match (self, self.raw()) {
            (BrowserStore::Memory(m), _) => m.borrow().keys().cloned().collect(),
            (_, Some(s)) => (0..s.length().unwrap_or(0))
                .filter_map(|i| s.key(i).ok().flatten())
                .collect(),
            (_, None) => Vec::new(),
        }
    }
}
