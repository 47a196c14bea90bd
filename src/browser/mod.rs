//! The browser shell: implements the flow's traits with web-sys. Nothing here decides anything
//! about OAuth; it moves bytes, keeps records and watches windows.

pub mod env;
pub mod fetch;
pub mod locks;
pub mod popup;
pub mod storage;
pub mod vault;
pub mod wiring;

use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::core::error::{ErrorCode, McpError};

/// A JS exception's message, for error texts.
pub fn js_message(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".to_string())
}

/// The page's `window`; `invalid_input` where there is none (R36: a server renderer, a test
/// runner).
pub fn window() -> Result<web_sys::Window, McpError> {
    web_sys::window().ok_or_else(|| McpError::new(ErrorCode::InvalidInput, "mcp-oauth-wasm needs a browser window"))
}

/// A value as the plain JS object JSON would give (`null` for `None`, objects for maps), as the
/// contract's shapes are. Fails only for an integer beyond `Number.MAX_SAFE_INTEGER`.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, McpError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| {
            McpError::new(
                ErrorCode::InvalidResponse,
                format!("a value cannot be handed to JS: {e}"),
            )
        })
}
