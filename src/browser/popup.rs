//! The popup (R21–R23): opened synchronously on `about:blank`, navigated once the URL is ready,
//! then watched until the callback's result arrives by `postMessage`, `BroadcastChannel` or
//! the shared storage — whichever comes first. The two message listeners and the popup's
//! sending end are a few lines of JS (`shell.js`); every text they pass is parsed and checked
//! here.

use js_sys::Promise;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, EventTarget, Window};

use crate::core::error::{ErrorCode, McpError};
use crate::core::http::parse_json;
use crate::flow::records::FlowResult;

/// R23: a handle that turns closed sooner than this after navigation may be severed by COOP.
const DETACH_WINDOW_MS: f64 = 3000.0;
/// R23: how long a closed popup's result may take to show up before it counts as a user close.
const CLOSE_GRACE_MS: f64 = 1000.0;
const POLL_MS: i32 = 200;

/// R21: `window.open("about:blank", name)` inside the click; `None` when blocked.
pub fn open_blank(name: &str) -> Option<Window> {
    let w = web_sys::window()?;
    w.open_with_url_and_target_and_features("about:blank", name, "popup,width=520,height=720").ok().flatten()
}

#[wasm_bindgen(module = "/src/browser/shell.js")]
extern "C" {
    /// The opener's end of R22 (shell.js).
    type ResultWatch;
    #[wasm_bindgen(js_name = watchResult)]
    fn watch_result(popup: &Window, channel: &str) -> ResultWatch;
    #[wasm_bindgen(method)]
    fn take(this: &ResultWatch) -> Option<String>;
    #[wasm_bindgen(method)]
    fn stop(this: &ResultWatch);
    /// The popup's end of R22 (shell.js): channel, `postMessage` to the opener, then close.
    #[wasm_bindgen(js_name = notifyOpener)]
    pub fn notify_opener(channel: &str, text: &str);
    #[wasm_bindgen(js_name = sleep)]
    fn sleep_promise(ms: i32) -> Promise;
}

/// Stops watching when dropped.
struct Watcher(ResultWatch);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.stop();
    }
}

pub async fn sleep(ms: i32) {
    let _ = JsFuture::from(sleep_promise(ms)).await;
}

/// An event listener removed when dropped (as gloo-events does).
pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    closure: Closure<dyn FnMut(JsValue)>,
}

impl Listener {
    pub fn new(target: &EventTarget, kind: &'static str, f: impl FnMut(JsValue) + 'static) -> Option<Listener> {
        let closure = Closure::wrap(Box::new(f) as Box<dyn FnMut(JsValue)>);
        target.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref()).ok()?;
        Some(Listener { target: target.clone(), kind, closure })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// A flow result's JSON text, if it is one and belongs to the flow `state`.
pub fn parse_result(text: &str, state: &str) -> Option<FlowResult> {
    parse_json::<FlowResult>(text).filter(|r| r.state == state)
}

pub struct Watch<'a> {
    pub popup: &'a Window,
    /// The flow's `BroadcastChannel` (R22): its storage key, `Engine::flow_key`.
    pub channel: &'a str,
    pub state: &'a str,
    /// When the popup was sent to the authorization server (`Date.now()`).
    pub navigated_at: f64,
    pub timeout_ms: f64,
    pub signal: Option<AbortSignal>,
    /// Reads the stored result, if the callback wrote one.
    pub read_stored: &'a dyn Fn() -> Option<FlowResult>,
    /// R23: called once when the handle looks severed by COOP.
    pub on_detached: &'a dyn Fn(),
}

/// Waits for the flow's result (R22, R23).
pub async fn wait_for_result(w: Watch<'_>) -> Result<FlowResult, McpError> {
    let watch = Watcher(watch_result(w.popup, w.channel));
    let started = js_sys::Date::now();
    let mut closed_at: Option<f64> = None;
    let mut detached = false;
    loop {
        while let Some(text) = watch.0.take() {
            if let Some(r) = parse_result(&text, w.state) {
                return Ok(r);
            }
        }
        if let Some(r) = (w.read_stored)() {
            return Ok(r);
        }
        let now = js_sys::Date::now();
        if w.signal.as_ref().is_some_and(|s| s.aborted()) {
            w.popup.close().ok();
            return Err(McpError::new(ErrorCode::Cancelled, "the app cancelled the authorization"));
        }
        if now - started > w.timeout_ms {
            w.popup.close().ok();
            return Err(McpError::new(ErrorCode::Timeout, "the authorization did not finish in time"));
        }
        if !detached && w.popup.closed().unwrap_or(true) {
            let since = *closed_at.get_or_insert(now);
            if since - w.navigated_at < DETACH_WINDOW_MS {
                // R23: severed by COOP, not closed by the user: keep waiting on the other channels
                detached = true;
                (w.on_detached)();
            } else if now - since > CLOSE_GRACE_MS {
                return Err(McpError::new(ErrorCode::PopupClosed, "the sign-in window was closed"));
            }
        }
        sleep(POLL_MS).await;
    }
}
