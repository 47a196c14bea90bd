//! `Env` in the browser: `Date.now()`, `crypto.getRandomValues` (through getrandom) and the
//! `subscribe` listeners (R30 events).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::JsValue;

use super::to_js;
use crate::core::error::{ErrorCode, McpError};
use crate::flow::Env;
use crate::flow::records::{Event, Status, Warning};

/// Warnings kept for the first listener at most.
const MAX_UNHEARD: usize = 16;

/// `Env` in the browser: the clock, the random source and the page's `subscribe` listeners (R30).
#[derive(Clone, Default)]
pub struct BrowserEnv {
    listeners: Rc<RefCell<Vec<(u32, Function)>>>,
    next_id: Rc<Cell<u32>>,
    /// Warnings emitted before anyone listened (from the constructor): the first listener gets
    /// them, so each is said once.
    unheard: Rc<RefCell<Vec<JsValue>>>,
}

impl BrowserEnv {
    /// Adds a `subscribe` listener, first handing it the warnings no one heard yet; returns its id.
    pub fn subscribe(&self, f: Function) -> u32 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let unheard = std::mem::take(&mut *self.unheard.borrow_mut());
        for value in unheard {
            let _ = f.call1(&JsValue::NULL, &value);
        }
        self.listeners.borrow_mut().push((id, f));
        id
    }

    /// Removes the listener of that id (the function `subscribe` returns calls this).
    pub fn unsubscribe(&self, id: u32) {
        self.listeners.borrow_mut().retain(|(i, _)| *i != id);
    }

    /// Calls every listener; one that throws does not stop the others.
    pub fn emit(&self, event: &Event) {
        let Ok(value) = to_js(event) else { return };
        // a copy, and no borrow held while listeners run: one may subscribe or unsubscribe
        let listeners: Vec<Function> = self.listeners.borrow().iter().map(|(_, f)| f.clone()).collect();
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
        getrandom::fill(buf).map_err(|_| {
            McpError::new(
                ErrorCode::InvalidInput,
                "no secure random source (crypto.getRandomValues)",
            )
        })
    }

    fn step(&self, server_url: &str, step: crate::flow::records::Step, detail: &str) {
        self.emit(&Event::Step {
            server_url,
            step,
            detail,
        });
    }

    fn status_changed(&self, status: &Status) {
        self.emit(&Event::Status { status });
    }

    fn warning(&self, server_url: Option<&str>, code: Warning, message: &str) {
        if self.listeners.borrow().is_empty() {
            let mut unheard = self.unheard.borrow_mut();
            if unheard.len() < MAX_UNHEARD
                && let Ok(value) = to_js(&Event::Warning {
                    server_url,
                    code,
                    message,
                })
            {
                unheard.push(value);
            }
            return;
        }
        self.emit(&Event::Warning {
            server_url,
            code,
            message,
        });
    }
}
