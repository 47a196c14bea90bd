//! The sans-IO core: pure functions over plain data, no browser, no async runtime.

#[allow(unused_imports)]
use crate::prelude::*;

pub mod authorize;
pub mod b64;
pub mod challenge;
pub mod discovery;
pub mod error;
pub mod http;
pub mod json;
pub mod pkce;
pub mod registration;
pub mod revocation;
pub mod secret;
pub mod text;
pub mod token;
pub mod url;
