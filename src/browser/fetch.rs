//! `Http` over the browser's `fetch` (or the app's own `fetch` option, R10).

use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, RequestRedirect, Response};

use super::js_message;
use crate::core::error::HttpError;
use crate::core::http::{HttpRequest, HttpResponse, check_answered_by, check_body};
use crate::flow::Http;

/// How long any request the library makes itself may take (a refresh holds the server's lock
/// meanwhile: it must end).
const REQUEST_TIMEOUT_MS: u32 = 30_000;

/// The response headers the core reads.
const READ_HEADERS: [&str; 3] = ["www-authenticate", "content-type", "dpop-nonce"];

/// `Http` over `fetch` (the app's, R10, or the global one), each request with a 30 s timeout.
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
        let promise: Promise = promise
            .dyn_into()
            .map_err(|_| HttpError::Network("fetch did not return a promise".into()))?;
        let resp = JsFuture::from(promise).await.map_err(network)?;
        resp.dyn_into::<Response>()
            .map_err(|_| HttpError::Network("fetch did not return a Response".into()))
    }
}

/// The `fetch` `Request` for a core request: its method, headers and body, `redirect: "manual"`
/// when it must not follow redirects (R20), and the timeout signal.
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

/// `obj.name()`, for the stream methods web-sys is not built with.
fn call0(obj: &JsValue, name: &str) -> Result<JsValue, HttpError> {
    let f: Function = js_sys::Reflect::get(obj, &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| HttpError::Network(format!("the response body has no {name}()")))?;
    f.call0(obj).map_err(network)
}

/// R25, R32: at most `max` bytes of the body: over an announced `Content-Length` nothing is
/// read; otherwise the stream is read chunk by chunk and cancelled once past `max`. Decoded as
/// `text()` decodes (UTF-8, invalid sequences replaced, a leading byte order mark dropped).
async fn read_body(resp: &Response, max: usize) -> Result<String, HttpError> {
    let announced = resp
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = announced {
        check_body(usize::try_from(len).unwrap_or(usize::MAX), max)?;
    }
    let stream = js_sys::Reflect::get(resp, &JsValue::from_str("body")).map_err(network)?;
    if stream.is_null() || stream.is_undefined() {
        return Ok(String::new());
    }
    let reader = call0(&stream, "getReader")?;
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        let read: Promise = call0(&reader, "read")?
            .dyn_into()
            .map_err(|_| HttpError::Network("read() did not return a promise".into()))?;
        let chunk = JsFuture::from(read).await.map_err(network)?;
        if js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
            .map_err(network)?
            .is_truthy()
        {
            break;
        }
        let value: Uint8Array = js_sys::Reflect::get(&chunk, &JsValue::from_str("value"))
            .map_err(network)?
            .dyn_into()
            .map_err(|_| HttpError::Network("the response body is not a byte stream".into()))?;
        let len = bytes.len().saturating_add(value.length() as usize);
        if let Err(e) = check_body(len, max) {
            // the rest is never read
            let _ = call0(&reader, "cancel");
            return Err(e);
        }
        bytes.extend_from_slice(&value.to_vec());
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string())
}

impl Http for BrowserHttp {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let resp = self.fetch_request(&build_request(&req)?).await?;
        // R20, R28, R34: an opaque redirect, or an answer from another origin, is not the server's
        check_answered_by(&req, resp.status(), &resp.url())?;
        let headers = READ_HEADERS
            .iter()
            .filter_map(|name| resp.headers().get(name).ok().flatten().map(|v| (name.to_string(), v)))
            .collect();
        let body = read_body(&resp, req.max_body).await?;
        Ok(HttpResponse::new(resp.status(), headers, body))
    }
}

/// R28: the app's request (`auth.fetch`, `fetchFor`) as the flow's `authorized_fetch` sends it:
/// each attempt a fresh copy (a body can be read once) carrying the credentials it is given.
pub struct AppRequest {
    request: Request,
    init: RequestInit,
    /// A body given as a string (JSON-RPC, a form) is sent as it is by every attempt, built
    /// from the URL and `init` again; any other (a stream, a Request's) goes through
    /// `Request.clone()`, whose body is a stream.
    rebuild_from: Option<String>,
}

fn invalid(e: &JsValue) -> crate::core::error::McpError {
    crate::core::error::McpError::new(crate::core::error::ErrorCode::InvalidInput, js_message(e))
}

impl AppRequest {
    /// `input` (a `Request`, a string or a `URL`; the server URL when absent) with `init`.
    pub fn new(
        server_url: &str,
        input: Option<JsValue>,
        init: Option<JsValue>,
    ) -> Result<AppRequest, crate::core::error::McpError> {
        let init: RequestInit = match init {
            Some(i) if i.is_object() => i.unchecked_into(),
            _ => RequestInit::new(),
        };
        // the request, and the URL it was given as when it was not a `Request`
        let (request, given_url) = match &input {
            Some(v) if v.is_instance_of::<Request>() => {
                (Request::new_with_request_and_init(v.unchecked_ref(), &init), None)
            }
            // a string or a `URL` (its `toString()` is its href)
            Some(v) if !v.is_undefined() && !v.is_null() => {
                let url = String::from(v.unchecked_ref::<js_sys::Object>().to_string());
                (Request::new_with_str_and_init(&url, &init), Some(url))
            }
            _ => (
                Request::new_with_str_and_init(server_url, &init),
                Some(server_url.to_string()),
            ),
        };
        let request = request.map_err(|e| invalid(&e))?;
        let plain_body = js_sys::Reflect::get(&init, &JsValue::from_str("body"))
            .is_ok_and(|b| b.is_undefined() || b.is_null() || b.is_string());
        Ok(AppRequest {
            request,
            init,
            rebuild_from: given_url.filter(|_| plain_body),
        })
    }

    /// The request's method, as `fetch` will send it.
    pub fn method(&self) -> String {
        self.request.method()
    }

    /// The request's absolute URL, which decides whether it goes to the server's origin (R28).
    pub fn url(&self) -> String {
        self.request.url()
    }

    /// One attempt: a fresh copy, with `Authorization` (and `DPoP`) from `credentials`.
    pub async fn send(
        &self,
        http: &BrowserHttp,
        credentials: Option<crate::flow::Credentials>,
    ) -> Result<crate::flow::Sent<JsValue>, crate::core::error::McpError> {
        let req = match &self.rebuild_from {
            Some(url) => Request::new_with_str_and_init(url, &self.init),
            None => self.request.clone(),
        }
        .map_err(|e| invalid(&e))?;
        if let Some(c) = credentials {
            // a fixed message: the browser's own names the header value, i.e. the token (R31)
            let refused = |_| {
                crate::core::error::McpError::new(
                    crate::core::error::ErrorCode::InvalidInput,
                    "the access token cannot be sent as a header",
                )
            };
            req.headers()
                .set("authorization", &format!("{} {}", c.scheme, c.token.secret()))
                .map_err(refused)?;
            if let Some(proof) = &c.proof {
                req.headers().set("dpop", proof).map_err(refused)?;
            }
        }
        let resp = http.fetch_request(&req).await?;
        let header = |name| resp.headers().get(name).ok().flatten();
        // R28, R34: where the answer came from, after redirects (the flow decides what it means)
        let final_url = Some(resp.url()).filter(|u| !u.is_empty());
        Ok(crate::flow::Sent {
            status: resp.status(),
            www_authenticate: header("www-authenticate"),
            dpop_nonce: header("dpop-nonce"),
            final_url,
            response: JsValue::from(resp),
        })
    }
}
