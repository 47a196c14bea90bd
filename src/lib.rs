//! mcp-oauth-wasm: the client side of OAuth 2.1 for MCP servers, in the browser.
//!
//! `core` is sans-IO and runs under `cargo test`; `flow` orchestrates it over small traits;
//! `browser` implements those traits with web-sys; `facade` is the `wasm-bindgen` API.

#![warn(missing_docs)]

pub mod core;
pub mod flow;

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
mod facade;
#[cfg(target_arch = "wasm32")]
pub use facade::McpAuth;
