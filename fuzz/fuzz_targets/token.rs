//! Token responses (RFC 6749 §5.1–5.2, R20): `parse_token_response` on any response, at the
//! clock on the status line (`200 1700000000000`, ms).
//! Invariants: no panic; a token set comes from a 200, has a non-empty access token, a Bearer
//! or DPoP type, an expiry no earlier than now and no later than `MAX_EXPIRY_MS`, no empty
//! refresh token, no blank scope; the stored set reads back the same; R31 — its `Debug` does not
//! depend on the tokens, and the server's words an error quotes carry no credential-like run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::secret::{AccessToken, RefreshToken};
use mcp_oauth_wasm::core::token::{MAX_EXPIRY_MS, TokenError, TokenSet, parse_token_response};

fuzz_target!(|data: &[u8]| {
    let (resp, arg) = fuzz_common::response(data);
    let now: u64 = arg.trim().parse().unwrap_or(1_700_000_000_000);
    match parse_token_response(&resp, now) {
        Ok(t) => {
            assert_eq!(resp.status, 200);
            assert!(!t.access_token.secret().is_empty());
            assert!(t.token_type.eq_ignore_ascii_case("bearer") || t.token_type.eq_ignore_ascii_case("dpop"));
            if let Some(at) = t.expires_at {
                assert!(at <= MAX_EXPIRY_MS);
                assert!(at >= now.min(MAX_EXPIRY_MS), "expires before now");
            }
            assert!(!t.refresh_token.as_ref().is_some_and(|r| r.secret().is_empty()));
            assert!(!t.scope.as_ref().is_some_and(|s| s.trim().is_empty()));
            assert!(!t.refreshable);
            let back: TokenSet = serde_json::from_str(&serde_json::to_string(&t).unwrap()).expect("the stored set reloads");
            assert_eq!(back, t);
            let mut other = t.clone();
            other.access_token = AccessToken::new("another access token");
            other.refresh_token = t.refresh_token.as_ref().map(|_| RefreshToken::new("another refresh token"));
            assert_eq!(format!("{t:?}"), format!("{other:?}"), "R31: Debug shows a token");
        }
        Err(e) => {
            match &e {
                TokenError::OAuth { status, said_text, .. } => {
                    assert!((400..500).contains(status) && *status == resp.status);
                    assert!(!said_text.as_deref().is_some_and(fuzz_common::has_secret_like_run), "R31: {said_text:?}");
                }
                TokenError::Http(h) => {
                    let msg = h.to_string();
                    assert!(!fuzz_common::has_secret_like_run(&msg), "R31: a credential-like run in {msg:?}");
                }
            }
            let _ = e.refresh_failure();
            let _ = e.clone().into_exchange_error();
            let _ = e.into_refresh_error();
        }
    }
});
