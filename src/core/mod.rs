//! The sans-IO core: pure functions over plain data, no browser, no async runtime.

pub mod authorize;
pub mod challenge;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod http;
pub mod pkce;
pub mod registration;
pub mod resource;
pub mod revocation;
pub mod secret;
pub mod token;
