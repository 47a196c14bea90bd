//! `Env` in the browser: `Date.now()`, `crypto.getRandomValues` (through getrandom) and the
//! `subscribe` listeners (R30 events).

#[allow(unused_imports)]
use crate::prelude::*;

use core::cell::Cell;
use alloc::rc::Rc;

use js_sys::Function;
use wasm_bindgen::JsValue;

use crate::core::error::{ErrorCode, McpError};
use crate::core::json::{Json, obj};
use crate::flow::Env;
use crate::flow::records::Status;

#[derive(Clone, Default)]
pub struct BrowserEnv {
    /// A `Cell`, taken and put back: no borrow can be held across a listener call, and no
    /// `RefCell` panic path is in the module.
    listeners: Rc<Cell<Vec<(u32, Function)>>>,
    next_id: Rc<Cell<u32>>,
}

/// JSON text → a plain JS value (`null` if it does not parse, which our own JSON always does).
pub fn json_to_js(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or(JsValue::NULL)
}

impl BrowserEnv {
    pub fn subscribe(&self, f: Function) -> u32 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let mut all = self.listeners.take();
        all.push((id, f));
        self.listeners.set(all);
        id
    }

    pub fn unsubscribe(&self, id: u32) {
        let mut all = self.listeners.take();
        all.retain(|(i, _)| *i != id);
        self.listeners.set(all);
    }

    /// Calls every listener; one that throws does not stop the others.
    pub fn emit(&self, event: &Json) {
        let value = json_to_js(&event.text());
        // a copy: a listener may subscribe or unsubscribe while it runs
        let all = self.listeners.take();
        let listeners: Vec<Function> = all.iter().map(|(_, f)| f.clone()).collect();
        self.listeners.set(all);
        for f in listeners {
            let _ = f.call1(&JsValue::NULL, &value);
        }
    }
}

impl Env for BrowserEnv {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), McpError> {
        getrandom::fill(buf).map_err(|_| McpError::new(ErrorCode::InvalidInput, "no secure random source (crypto.getRandomValues)"))
    }

    fn step(&self, server_url: &str, step: &str, detail: &str) {
        self.emit(&obj([("type", "step".into()), ("serverUrl", server_url.into()), ("step", step.into()), ("detail", detail.into())]));
    }

    fn status_changed(&self, status: &Status) {
        self.emit(&obj([("type", "status".into()), ("status", status.to_json())]));
    }
}
