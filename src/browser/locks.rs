//! `Lock` over Web Locks (`navigator.locks`, through `requestLock` in `locks.js`): one refresh of
//! a server at a time across the origin's tabs and within the page (R26). The page's line of
//! callers in front of the Web Lock is `flow::page_locks`, one for the page.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::core::error::McpError;
use crate::flow::Lock;
use crate::flow::page_locks::{CrossTab, Denied, PageGuard, PageLocks};

#[wasm_bindgen(module = "/src/browser/locks.js")]
extern "C" {
    #[wasm_bindgen(js_name = requestLock)]
    fn request_lock(name: &str, timeout_ms: u32) -> Option<Promise>;
    #[wasm_bindgen(js_name = releaseWhenGranted)]
    fn release_when_granted(request: &Promise);
}

thread_local! {
    /// The page's line for every lock name, shared by every `McpAuth` of the page.
    static PAGE: PageLocks<WebLocks> = PageLocks::new(WebLocks);
}

/// The flow's `Lock` in the browser: the page's line (one for the page) over Web Locks.
#[derive(Clone, Copy, Default)]
pub struct BrowserLock;

impl Lock for BrowserLock {
    type Guard = PageGuard<WebLocks>;

    async fn acquire(&self, name: &str, timeout_ms: u32) -> Result<Self::Guard, McpError> {
        let page = PAGE.with(PageLocks::clone);
        page.acquire(name, timeout_ms).await
    }
}

/// The Web Locks of the origin.
pub struct WebLocks;

/// A held Web Lock, released when dropped.
pub struct Held(Function);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::NULL);
    }
}

/// A Web Lock request in flight (`None` without Web Locks); given up when dropped unanswered.
pub struct WebRequest(Option<(Promise, JsFuture)>);

impl Future for WebRequest {
    type Output = Result<Held, Denied>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some((_, granted)) = self.0.as_mut() else {
            return Poll::Ready(Err(Denied::Unavailable));
        };
        let Poll::Ready(answer) = Pin::new(granted).poll(cx) else {
            return Poll::Pending;
        };
        self.0 = None;
        Poll::Ready(match answer {
            Ok(release) => release
                .dyn_into::<Function>()
                .map(Held)
                .map_err(|_| Denied::Refused("the Web Lock gave no release".into())),
            Err(e) => match js_sys::Reflect::get(&e, &"name".into())
                .ok()
                .and_then(|n| n.as_string())
            {
                Some(n) if n == "AbortError" || n == "TimeoutError" => Err(Denied::TimedOut),
                _ => Err(Denied::Refused(super::js_message(&e))),
            },
        })
    }
}

impl Drop for WebRequest {
    fn drop(&mut self) {
        if let Some((request, _)) = self.0.take() {
            release_when_granted(&request);
        }
    }
}

impl CrossTab for WebLocks {
    type Release = Held;
    type Request = WebRequest;

    fn request(&self, name: &str, timeout_ms: u32) -> WebRequest {
        WebRequest(request_lock(name, timeout_ms).map(|p| (p.clone(), JsFuture::from(p))))
    }

    fn sleep(&self, ms: u32) -> impl Future<Output = ()> {
        super::popup::sleep(i32::try_from(ms).unwrap_or(i32::MAX))
    }
}
