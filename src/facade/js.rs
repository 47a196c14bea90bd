//! JS values in and out: errors as `McpAuthError`, promises, the server and page URLs as they
//! enter, `ServerInfo` as JS sees it.

use crate::browser::to_js;
use crate::core::error::{ErrorCode, McpError};
use crate::core::resource::ServerUrl;
use js_sys::{Object, Promise, Reflect};
use std::pin::Pin;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::Window;

/// `McpError` → a JS `Error` named `McpAuthError`, with the contract's properties
/// (`code`, `status`, `oauthError`, `description`, `serverUrl`) copied onto it.
pub(super) fn to_js_error(e: McpError) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("McpAuthError");
    if let Ok(props) = to_js(&e) {
        Object::assign(&err, &props.unchecked_into());
    }
    err.into()
}

pub(super) fn invalid(msg: impl Into<String>) -> McpError {
    McpError::new(ErrorCode::InvalidInput, msg)
}

/// A server URL as it enters the library, parsed once (R8, R15). A host the `url` crate's
/// ASCII-only IDNA cannot map goes through the browser's own `URL` first, which turns it
/// into punycode exactly as `fetch` will.
pub(super) fn server_url(input: &str) -> Result<ServerUrl, McpError> {
    let href = match input.is_ascii() {
        true => None,
        false => web_sys::Url::new(input).ok().map(|u| u.href()),
    };
    crate::core::discovery::parse_server_url(input, href.as_deref().unwrap_or(input))
        .map_err(|e| McpError::from(e).with_server(input))
}

/// `input` resolved against the page's address, as `new URL(input, location.href)` would.
pub(super) fn page_url(window: &Window, input: &str) -> Result<url::Url, McpError> {
    let base = window.location().href().map_err(|_| invalid("no page URL"))?;
    url::Url::parse(&base)
        .and_then(|b| b.join(input))
        .map_err(|_| invalid("not a URL"))
}

/// `ServerInfo` as JS sees it: the metadata documents as `JSON.parse` gives them.
pub(super) fn server_info_js(info: &crate::flow::records::ServerInfo) -> Result<JsValue, McpError> {
    let obj = to_js(info)?;
    for (key, doc) in [
        ("resourceMetadata", info.resource_metadata),
        ("authorizationServerMetadata", info.authorization_server_metadata),
    ] {
        if let Some(doc) = doc {
            let value = js_sys::JSON::parse(&doc.to_string())
                .map_err(|_| invalid("a metadata document cannot be handed to JS"))?;
            Reflect::set(&obj, &JsValue::from_str(key), &value)
                .map_err(|_| invalid("a metadata document cannot be handed to JS"))?;
        }
    }
    Ok(obj)
}

/// Runs `f` as a `Promise`: its value resolves it, its error rejects it as an `McpAuthError`.
/// Boxed, so that the promise machinery is in the module once rather than once per method.
pub(super) fn promise(f: impl Future<Output = Result<JsValue, McpError>> + 'static) -> Promise {
    run_boxed(Box::pin(f))
}

pub(super) fn run_boxed(f: Pin<Box<dyn Future<Output = Result<JsValue, McpError>>>>) -> Promise {
    future_to_promise(async move { f.await.map_err(to_js_error) })
}

pub(super) fn reject(e: McpError) -> Promise {
    Promise::reject(&to_js_error(e))
}
