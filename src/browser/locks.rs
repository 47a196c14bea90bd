//! `Lock` over Web Locks (`navigator.locks`, through `acquireLock` in `locks.js`): one refresh of
//! a server at a time across the origin's tabs and within the page (R26).

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::core::error::{ErrorCode, McpError};
use crate::flow::Lock;

#[wasm_bindgen(module = "/src/browser/locks.js")]
extern "C" {
    #[wasm_bindgen(js_name = acquireLock)]
    fn acquire_lock(name: &str, timeout_ms: u32) -> Promise;
}

/// `Lock` over Web Locks (locks.js), shared by every tab of the origin (R26).
#[derive(Clone, Copy, Default)]
pub struct BrowserLock;

/// A held Web Lock, released when dropped.
pub struct Held(Function);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::NULL);
    }
}

impl Lock for BrowserLock {
    type Guard = Held;

    async fn acquire(&self, name: &str, timeout_ms: u32) -> Result<Held, McpError> {
        let release = JsFuture::from(acquire_lock(name, timeout_ms)).await.map_err(|_| {
            McpError::new(
                ErrorCode::Timeout,
                "another tab or caller has held this server's refresh lock too long",
            )
        })?;
        release
            .dyn_into::<Function>()
            .map(Held)
            .map_err(|_| McpError::new(ErrorCode::Timeout, "the refresh lock gave no release"))
    }
}
