//! The shell wired to the flows: which vault and which redirect store go with a storage mode,
//! and the token copies the page's instances share.

use std::collections::BTreeMap;

use super::env::BrowserEnv;
use super::fetch::BrowserHttp;
use super::locks::BrowserLock;
use super::storage::BrowserStore;
use super::vault::BrowserVault;
use crate::flow::engine::{Config, Engine, Parts, TokenCache};

/// The flows over the browser's shell.
pub type BrowserEngine = Engine<BrowserHttp, BrowserStore, BrowserEnv, BrowserLock, BrowserVault>;

thread_local! {
    /// The page's in-memory token copies, one map per storage (kind and key prefix): instances
    /// on the same storage share it, so a write by one is seen by the others at once (`storage`
    /// events reach only other documents).
    static TOKEN_CACHES: std::cell::RefCell<BTreeMap<String, TokenCache>> = Default::default();
}

fn shared_token_cache(store: &BrowserStore, prefix: &str) -> TokenCache {
    let kind = match store {
        BrowserStore::Local => "local",
        BrowserStore::Session => "session",
        // a memory store is the instance's own
        BrowserStore::Memory(_) => return Default::default(),
    };
    TOKEN_CACHES.with(|c| c.borrow_mut().entry(format!("{kind}|{prefix}")).or_default().clone())
}

/// The engine for `store`: R33 refresh tokens in IndexedDB, encrypted, beside localStorage
/// records (with session or memory storage they live as long as the page does); R24, R33 a
/// full-page redirect's flow in this tab's sessionStorage.
pub fn browser_engine(config: Config, store: BrowserStore, http: BrowserHttp, env: BrowserEnv) -> BrowserEngine {
    let vault = match (&store, web_sys::window().and_then(|w| w.indexed_db().ok().flatten())) {
        (BrowserStore::Local, Some(_)) => BrowserVault::IndexedDb(config.prefix.clone()),
        (BrowserStore::Session, Some(_)) => BrowserVault::Session(config.prefix.clone()),
        _ => BrowserVault::Memory(Default::default()),
    };
    let redirect_flows = match &store {
        BrowserStore::Memory(_) => BrowserStore::Memory(Default::default()),
        _ => BrowserStore::open("session").unwrap_or_else(|_| BrowserStore::Memory(Default::default())),
    };
    let token_cache = shared_token_cache(&store, &config.prefix);
    Engine::new(
        Parts {
            http,
            store,
            env,
            lock: BrowserLock,
            vault,
            redirect_flows,
            token_cache,
        },
        config,
    )
}
