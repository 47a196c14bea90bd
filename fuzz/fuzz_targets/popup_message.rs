//! The popup's hand-over message (R22). `browser::popup::parse_result` is in the wasm-only shell;
//! it is `parse_json::<CallbackParams>(text)` kept when its `state` is the flow's, and that is what
//! this target runs. Input: the expected state on the first line, then the message text.
//! Invariants: no panic; a message is taken only with the flow's state; what is taken serializes
//! (as the popup sends it) to a tagged message that reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::authorize::CallbackParams;
use mcp_oauth_wasm::core::http::parse_json;

/// `browser::popup::parse_result`, as written there.
fn parse_result(text: &str, state: &str) -> Option<CallbackParams> {
    parse_json::<CallbackParams>(text).filter(|p| p.state.as_deref() == Some(state))
}

fuzz_target!(|data: &[u8]| {
    let s = fuzz_common::text(data);
    let (state, text) = fuzz_common::split_line(&s);
    if let Some(p) = parse_result(text, state) {
        assert_eq!(p.state.as_deref(), Some(state));
        assert!(p.is_oauth_response());
        let sent = serde_json::to_string(&p).unwrap();
        let v: serde_json::Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(v["type"], "mcp-oauth-wasm:callback");
        assert_eq!(parse_result(&sent, state).as_ref(), Some(&p), "the hand-over does not read back");
    }
});
