//! mcp-oauth-wasm: the client side of OAuth 2.1 for MCP servers, in the browser.
//!
//! `core` is sans-IO and runs under `cargo test`; `flow` orchestrates it over small traits;
//! `browser` implements those traits with web-sys; `facade` is the `wasm-bindgen` API.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

/// What `std`'s prelude would give; the crate builds without `std` for the package (size).
mod prelude {
    #[allow(unused_imports)]
    pub use alloc::{borrow::ToOwned, boxed::Box, format, string::{String, ToString}, vec, vec::Vec};

    /// `format!` for plain string pieces: `cat!(a, ":", b)`. Messages, keys and URLs are built
    /// with this instead of `core::fmt`, whose padding and integer code the wasm would
    /// otherwise carry (measured in the issue note).
    macro_rules! cat {
        ($($part:expr),+ $(,)?) => {
            $crate::core::text::concat(&[$(::core::convert::AsRef::<str>::as_ref(&$part)),+])
        };
    }
    #[allow(unused_imports)]
    pub(crate) use cat;
}

#[cfg(all(feature = "nostd-wasm", not(feature = "std"), target_arch = "wasm32"))]
#[global_allocator]
// SAFETY: wasm32-unknown-unknown without the atomics feature runs on one thread, and the
// allocator never calls out to JS, so it is never re-entered.
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// Without `std` a panic traps. The code never panics on purpose (no unwrap, no indexing that
/// can fail); this only stops the module if a bug slips through.
#[cfg(all(feature = "nostd-wasm", not(feature = "std"), target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}

pub mod core;
pub mod flow;

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
mod facade;
#[cfg(target_arch = "wasm32")]
pub use facade::McpAuth;
