//! The popup (R21–R23): opened synchronously on `about:blank`, navigated once the URL is ready,
//! then watched until its callback page hands over the authorization response's parameters by
//! `postMessage` or `BroadcastChannel` — whichever comes first. (Not through storage: the
//! parameters hold the code.) The two message listeners and the popup's
//! sending end are a few lines of JS (`popup.js`); every text they pass is parsed and checked
//! here.

use js_sys::Promise;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, EventTarget, Window};

use crate::core::authorize::CallbackParams;
use crate::core::error::{ErrorCode, McpError};
use crate::core::http::parse_json;
use crate::flow::records::Status;

/// R23: a handle that turns closed sooner than this after navigation may be severed by COOP.
const DETACH_WINDOW_MS: f64 = 3000.0;
/// R23: how long a closed popup's result may take to show up before it counts as a user close.
const CLOSE_GRACE_MS: f64 = 1000.0;
const POLL_MS: i32 = 200;

/// R28: a popup for a step-up, opened only while the page still has the click's transient
/// activation (a popup opened later would be blocked anyway).
pub fn open_in_activation(name: &str) -> Option<Window> {
    user_activation().then(|| open_blank(name)).flatten()
}

/// R21: `window.open("about:blank", name)` inside the click; `None` when blocked.
pub fn open_blank(name: &str) -> Option<Window> {
    let w = web_sys::window()?;
    w.open_with_url_and_target_and_features("about:blank", name, "popup,width=520,height=720")
        .ok()
        .flatten()
}

#[wasm_bindgen(module = "/src/browser/popup.js")]
extern "C" {
    /// The opener's end of R22 (popup.js).
    type ResultWatch;
    #[wasm_bindgen(js_name = watchResult)]
    fn watch_result(popup: &Window, channel: &str) -> ResultWatch;
    #[wasm_bindgen(method)]
    fn take(this: &ResultWatch) -> Option<String>;
    #[wasm_bindgen(method)]
    fn ack(this: &ResultWatch, state: &str, server_url: &str);
    #[wasm_bindgen(method)]
    fn stop(this: &ResultWatch);
    /// Resolves when a message arrives, or after `ms` (to look at the popup again).
    #[wasm_bindgen(method)]
    fn next(this: &ResultWatch, ms: i32) -> Promise;
    /// The popup's end of R22 (popup.js): channel and `postMessage` to the opener, then the
    /// opener's word that it took the parameters (`{ serverUrl }`, then with the `outcome`), or
    /// `null` after the timeout.
    #[wasm_bindgen(js_name = handOver)]
    fn hand_over_promise(channel: &str, text: &str, state: &str, timeout_ms: i32, done_ms: i32) -> Promise;
    /// The opener's last word to the popup: the flow's outcome (popup.js).
    #[wasm_bindgen(js_name = announce)]
    fn announce_js(popup: &Window, channel: &str, state: &str, outcome: &str);
    /// R28: `navigator.userActivation.isActive` (false where the API is missing).
    #[wasm_bindgen(js_name = userActivation)]
    pub fn user_activation() -> bool;
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

/// Resolves `ms` after the call (the timer starts at once, not at the first poll).
pub fn sleep(ms: i32) -> impl std::future::Future<Output = ()> {
    let timer = JsFuture::from(sleep_promise(ms));
    async move {
        let _ = timer.await;
    }
}

/// An event listener removed when dropped (as gloo-events does).
pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    closure: Closure<dyn FnMut(JsValue)>,
}

impl Listener {
    /// Listens to `kind` events on `target` until dropped; `None` when the listener could not be
    /// added.
    pub fn new(target: &EventTarget, kind: &'static str, f: impl FnMut(JsValue) + 'static) -> Option<Listener> {
        let closure = Closure::wrap(Box::new(f) as Box<dyn FnMut(JsValue)>);
        target
            .add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref())
            .ok()?;
        Some(Listener {
            target: target.clone(),
            kind,
            closure,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// The callback parameters in a text, if it holds them and they belong to the flow `state`.
pub fn parse_result(text: &str, state: &str) -> Option<CallbackParams> {
    parse_json::<CallbackParams>(text).filter(|p| p.state.as_deref() == Some(state))
}

pub use crate::flow::HandedOver;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
enum Outcome {
    Status(serde_json::Value),
    Error(McpError),
}

/// R22: hands the callback parameters to the opener that holds their flow; `None` when no
/// opener took them within `timeout_ms`, else the flow's server and, when it came within
/// `done_ms`, its outcome.
pub async fn hand_over(channel: &str, params: &CallbackParams, timeout_ms: i32, done_ms: i32) -> Option<HandedOver> {
    let (Some(state), Ok(text)) = (params.state.as_deref(), serde_json::to_string(params)) else {
        return None;
    };
    let answer = JsFuture::from(hand_over_promise(channel, &text, state, timeout_ms, done_ms))
        .await
        .ok()
        .filter(JsValue::is_object)?;
    let get = |key: &str| {
        js_sys::Reflect::get(&answer, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
    };
    let server_url = get("serverUrl").filter(|s| !s.is_empty())?;
    let outcome = get("outcome").and_then(|t| parse_json::<Outcome>(&t)).map(|o| match o {
        Outcome::Status(s) => Ok(s),
        Outcome::Error(e) => Err(e),
    });
    Some(HandedOver { server_url, outcome })
}

/// R22: the opener tells the popup how the flow `state` ended (it waits for this word).
pub fn announce(popup: &Window, channel: &str, state: &str, outcome: &Result<Status, McpError>) {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    enum Said<'a> {
        Status(&'a Status),
        Error(&'a McpError),
    }
    let said = match outcome {
        Ok(s) => Said::Status(s),
        Err(e) => Said::Error(e),
    };
    if let Ok(text) = serde_json::to_string(&said) {
        announce_js(popup, channel, state, &text);
    }
}

/// What [`wait_for_result`] watches: the popup of one flow and how long to wait for it (R22, R23).
pub struct Watch<'a> {
    /// The popup's window, watched for `closed` (R23).
    pub popup: &'a Window,
    /// The flow's `BroadcastChannel` (R22): its storage key, `Engine::flow_key`.
    pub channel: &'a str,
    /// The flow's `state`; a result for another flow is ignored (R17, R22).
    pub state: &'a str,
    /// When the popup was sent to the authorization server (`Date.now()`).
    pub navigated_at: f64,
    /// R23: the wait's end (`popupTimeoutSeconds`), in ms from its start.
    pub timeout_ms: f64,
    /// R23: the app's `signal`; its abort ends the wait with `cancelled`.
    pub signal: Option<AbortSignal>,
    /// R23: called once when the handle looks severed by COOP.
    pub on_detached: &'a dyn Fn(),
}

/// R23: resolves once the popup is closed while it still shows our own `about:blank` (the
/// user closed it before the authorization URL was ready) or the app aborts: what that means.
pub async fn closed_while_blank(popup: &Window, signal: Option<&AbortSignal>) -> McpError {
    loop {
        if signal.is_some_and(|s| s.aborted()) {
            return McpError::new(ErrorCode::Cancelled, "the app cancelled the authorization");
        }
        if popup.closed().unwrap_or(true) {
            return McpError::new(ErrorCode::PopupClosed, "the sign-in window was closed");
        }
        sleep(POLL_MS).await;
    }
}

/// Waits for the popup to hand over the callback's parameters (R22, R23), and tells it they
/// were taken.
pub async fn wait_for_result(w: Watch<'_>, server_url: &str) -> Result<CallbackParams, McpError> {
    let watch = Watcher(watch_result(w.popup, w.channel));
    let started = js_sys::Date::now();
    let mut closed_at: Option<f64> = None;
    let mut detached = false;
    loop {
        while let Some(text) = watch.0.take() {
            if let Some(params) = parse_result(&text, w.state) {
                watch.0.ack(w.state, server_url);
                return Ok(params);
            }
        }
        let now = js_sys::Date::now();
        if w.signal.as_ref().is_some_and(|s| s.aborted()) {
            w.popup.close().ok();
            return Err(McpError::new(
                ErrorCode::Cancelled,
                "the app cancelled the authorization",
            ));
        }
        if now - started > w.timeout_ms {
            w.popup.close().ok();
            return Err(McpError::new(
                ErrorCode::Timeout,
                "the authorization did not finish in time",
            ));
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
        // woken by the popup's message at once; the popup's state is looked at every POLL_MS
        let _ = JsFuture::from(watch.0.next(POLL_MS)).await;
    }
}

/// The flow's `Popup` (R21–R23) over a window opened blank in the click.
pub struct BrowserPopup {
    /// The window opened blank in the click (R21).
    pub window: Window,
    /// R23: the app's `signal`; its abort ends the flow with `cancelled`.
    pub signal: Option<AbortSignal>,
    /// R23: how long to wait for the result, in ms (`popupTimeoutSeconds`).
    pub timeout_ms: f64,
    /// When the window was sent to the authorization server (`Date.now()`).
    navigated_at: std::cell::Cell<f64>,
}

impl BrowserPopup {
    /// The flow's popup over `window`, just opened: its navigation time starts now.
    pub fn new(window: Window, signal: Option<AbortSignal>, timeout_ms: f64) -> BrowserPopup {
        BrowserPopup {
            window,
            signal,
            timeout_ms,
            navigated_at: std::cell::Cell::new(js_sys::Date::now()),
        }
    }
}

impl crate::flow::Popup for BrowserPopup {
    fn navigate(&self, url: &url::Url) -> Result<(), McpError> {
        self.navigated_at.set(js_sys::Date::now());
        self.window
            .location()
            .set_href(url.as_str())
            .map_err(|e| McpError::new(ErrorCode::PopupClosed, super::js_message(&e)))
    }

    async fn closed_while_blank(&self) -> McpError {
        closed_while_blank(&self.window, self.signal.as_ref()).await
    }

    fn cancelled(&self) -> bool {
        self.signal.as_ref().is_some_and(|s| s.aborted())
    }

    async fn wait_for_result(
        &self,
        channel: &str,
        state: &str,
        server_url: &str,
        on_detached: &dyn Fn(),
    ) -> Result<CallbackParams, McpError> {
        let watch = Watch {
            popup: &self.window,
            channel,
            state,
            navigated_at: self.navigated_at.get(),
            timeout_ms: self.timeout_ms,
            signal: self.signal.clone(),
            on_detached,
        };
        wait_for_result(watch, server_url).await
    }

    fn announce(&self, channel: &str, state: &str, outcome: &Result<Status, McpError>) {
        announce(&self.window, channel, state, outcome);
    }

    fn close(&self) {
        self.window.close().ok();
    }
}

/// How long a popup's callback page waits for its opener to take the parameters.
const HAND_OVER_TIMEOUT_MS: i32 = 3000;
/// And then for the opener to say how the flow ended (a code exchange, bounded at 30 s).
const OUTCOME_TIMEOUT_MS: i32 = 35_000;

/// The flow's `HandOver` (R22): the callback page's window.
pub struct BrowserHandOver(pub Window);

impl crate::flow::HandOver for BrowserHandOver {
    async fn hand_over(&self, channel: &str, params: &CallbackParams) -> Option<HandedOver> {
        hand_over(channel, params, HAND_OVER_TIMEOUT_MS, OUTCOME_TIMEOUT_MS).await
    }

    fn close_window(&self) {
        let _ = self.0.close();
    }
}
