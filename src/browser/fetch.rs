//! `Http` over the browser's `fetch` (or the app's own `fetch` option, R10).

use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, RequestRedirect, Response};

use super::js_message;
use crate::core::error::HttpError;
use crate::core::http::{HttpRequest, HttpResponse};
use crate::flow::Http;

/// How long any request the library makes itself may take (a refresh holds the server's lock
/// meanwhile: it must end).
const REQUEST_TIMEOUT_MS: u32 = 30_000;

/// The response headers the core reads.
const READ_HEADERS: [&str; 3] = ["www-authenticate", "content-type", "dpop-nonce"];

#[derive(Clone, Default)]
pub struct BrowserHttp {
    /// The app's `fetch` option; `globalThis.fetch` when absent.
    pub fetch_fn: Option<Function>,
}

fn network(e: JsValue) -> HttpError {
    HttpError::Network(js_message(&e))
}

impl BrowserHttp {
    /// Calls `fetch(request)` and waits for the `Response`.
    pub async fn fetch_request(&self, request: &Request) -> Result<Response, HttpError> {
        let promise = match &self.fetch_fn {
            Some(f) => f.call1(&JsValue::NULL, request),
            None => {
                let global = js_sys::global();
                let f: Function = js_sys::Reflect::get(&global, &JsValue::from_str("fetch"))
                    .ok()
                    .and_then(|f| f.dyn_into().ok())
                    .ok_or_else(|| HttpError::Network("fetch is not available".into()))?;
                f.call1(&global, request)
            }
        }
        .map_err(network)?;
        let promise: Promise = promise.dyn_into().map_err(|_| HttpError::Network("fetch did not return a promise".into()))?;
        let resp = JsFuture::from(promise).await.map_err(network)?;
        resp.dyn_into::<Response>().map_err(|_| HttpError::Network("fetch did not return a Response".into()))
    }
}

pub fn build_request(req: &HttpRequest) -> Result<Request, HttpError> {
    let headers = Headers::new().map_err(network)?;
    for (k, v) in &req.headers {
        headers.append(k, v).map_err(network)?;
    }
    let init = RequestInit::new();
    init.set_method(req.method.as_str());
    init.set_headers(&headers);
    if let Some(body) = &req.body {
        init.set_body(&JsValue::from_str(body));
    }
    if !req.follow_redirects {
        init.set_redirect(RequestRedirect::Manual);
    }
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(REQUEST_TIMEOUT_MS)));
    Request::new_with_str_and_init(req.url.as_str(), &init).map_err(network)
}

impl Http for BrowserHttp {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let resp = self.fetch_request(&build_request(&req)?).await?;
        let headers = READ_HEADERS
            .iter()
            .filter_map(|name| resp.headers().get(name).ok().flatten().map(|v| (name.to_string(), v)))
            .collect();
        // `text()`: the body decoded as `Response.json()` decodes it (UTF-8, BOM stripped)
        let body = JsFuture::from(resp.text().map_err(network)?).await.map_err(network)?;
        Ok(HttpResponse::new(resp.status(), headers, body.as_string().unwrap_or_default()))
    }
}
