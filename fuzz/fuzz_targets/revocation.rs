//! Revocation responses (RFC 7009 §2.2, R29): `parse_revocation` on any response.
//! Invariants: no panic; any 2xx is success; `Unsupported` only for a non-2xx whose body's error
//! is `unsupported_token_type`; an error is `revocation_failed` with the response's status and
//! its message carries no credential-like run of the body (R31, R38).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::revocation::{Revocation, parse_revocation};

fuzz_target!(|data: &[u8]| {
    let (resp, _) = fuzz_common::response(data);
    match parse_revocation(&resp) {
        Ok(Revocation::Revoked) => assert!(resp.is_success()),
        Ok(Revocation::Unsupported) => {
            assert!(!resp.is_success());
            let v: serde_json::Value = mcp_oauth_wasm::core::http::parse_json(&resp.body).expect("a JSON error body");
            assert_eq!(v["error"], "unsupported_token_type");
        }
        Err(e) => {
            assert!(!resp.is_success());
            assert_eq!(e.code.as_str(), "revocation_failed");
            assert_eq!(e.status, Some(resp.status));
            assert!(!fuzz_common::has_secret_like_run(&e.message), "R31: a credential-like run in {:?}", e.message);
        }
    }
});
