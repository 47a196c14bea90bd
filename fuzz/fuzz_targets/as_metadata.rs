//! Authorization-server metadata (RFC 8414, R6–R8): `parse_authorization_server_metadata` on any
//! response, for the issuer on the status line (`200 https://as.example.com`).
//! Invariants: no panic; R7 — accepted only with status 200 and an `issuer` member exactly equal
//! to the expected string, and a JSON object with another issuer is an `IssuerMismatch`; R8 —
//! every endpoint of an accepted document is https, or http on a loopback host, without user
//! info (an oracle written apart from `is_secure`); the stored form reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::discovery::{AuthServerMetadata, DiscoveryError, Document, parse_authorization_server_metadata};
use mcp_oauth_wasm::core::http::parse_json;
use mcp_oauth_wasm::core::resource::parse_secure;

const ENDPOINTS: [&str; 4] = ["authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint"];

fuzz_target!(|data: &[u8]| {
    let (resp, arg) = fuzz_common::response(data);
    let issuer = if arg.is_empty() { "https://as.example.com" } else { arg.as_str() };
    let out = parse_authorization_server_metadata(&resp, issuer);
    let raw = parse_json::<serde_json::Value>(&resp.body).filter(serde_json::Value::is_object);
    match &out {
        Ok(d) => {
            assert_eq!(resp.status, 200);
            assert_eq!(d.raw.get("issuer").and_then(|v| v.as_str()), Some(issuer), "R7: issuer");
            assert_eq!(d.fields.issuer, issuer, "R7: issuer");
            let m = &d.fields;
            let typed = [Some(&m.authorization_endpoint), Some(&m.token_endpoint), m.registration_endpoint.as_ref(), m.revocation_endpoint.as_ref()];
            for (name, url) in ENDPOINTS.iter().zip(typed) {
                if let Some(url) = url {
                    assert!(fuzz_common::secure_oracle(url), "R8: {name} {url}");
                }
                // and what is stored: the member as served, read again on load
                if let Some(text) = d.raw.get(*name).and_then(|v| v.as_str()) {
                    let u = parse_secure(text).expect("R8: a stored endpoint is secure");
                    assert!(fuzz_common::secure_oracle(&u), "R8: stored {name} {text}");
                }
            }
            let stored = serde_json::to_string(d).unwrap();
            let back: Document<AuthServerMetadata> = serde_json::from_str(&stored).expect("the stored document reloads");
            assert_eq!(back.fields, d.fields);
        }
        Err(DiscoveryError::IssuerMismatch { found, expected }) => {
            assert_eq!(expected, issuer);
            assert_ne!(found, issuer, "R7: an exact issuer refused");
        }
        Err(_) => {
            if resp.status == 200 && let Some(raw) = &raw {
                assert_eq!(raw.get("issuer").and_then(|v| v.as_str()), Some(issuer), "R7: a wrong issuer not reported as a mismatch: {out:?}");
            }
        }
    }
});
