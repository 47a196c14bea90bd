//! `WWW-Authenticate` (R2): `parse_challenges` and `bearer_challenge` on any header value.
//! Invariants: no panic; every scheme and parameter name is a lower-cased RFC 9110 token; a
//! token68 is token68 characters then `=`s; `bearer_challenge` answers exactly when a Bearer or
//! DPoP challenge was read, with that challenge's parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::challenge::{bearer_challenge, parse_challenges};

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let header = fuzz_common::text(data);
    let all = parse_challenges(&header);
    assert!(all.len() <= header.len(), "more challenges than bytes");
    for c in &all {
        assert!(is_token(&c.scheme) && c.scheme == c.scheme.to_ascii_lowercase(), "scheme {:?}", c.scheme);
        for (k, _) in &c.params {
            assert!(is_token(k) && *k == k.to_ascii_lowercase(), "param name {k:?}");
        }
        if let Some(t) = &c.token68 {
            let body = t.trim_end_matches('=');
            assert!(!body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)), "token68 {t:?}");
            assert!(c.params.is_empty(), "a token68 and parameters");
        }
    }
    let b = bearer_challenge(&header);
    let schemes = |s: &'static str| all.iter().filter(move |c| c.scheme == s);
    assert_eq!(b.is_some(), schemes("bearer").chain(schemes("dpop")).next().is_some());
    if let Some(b) = b {
        // the error, scope and description come from one Bearer or DPoP challenge
        let from_one = schemes("bearer").chain(schemes("dpop")).any(|c| {
            c.param("error") == b.error.as_deref() && c.param("scope") == b.scope.as_deref() && c.param("error_description") == b.error_description.as_deref()
        });
        assert!(from_one, "{b:?} from no single challenge of {all:?}");
        if let Some(m) = &b.resource_metadata {
            assert!(schemes("bearer").chain(schemes("dpop")).any(|c| c.param("resource_metadata") == Some(m)));
        }
    }
});
