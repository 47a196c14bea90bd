//! The probe's answer (R1): `parse_probe` on any response, then the metadata URLs it leads to
//! (R3). Invariants: 401 is always "authorization needed", 403 only with a Bearer/DPoP
//! challenge; `Open` carries the status, a 2xx or 400/404/405; everything else is an error; every
//! metadata URL is secure (R8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::challenge::bearer_challenge;
use mcp_oauth_wasm::core::discovery::{ProbeOutcome, parse_probe, resource_metadata_urls};
use mcp_oauth_wasm::core::resource::ServerUrl;

fuzz_target!(|data: &[u8]| {
    let (resp, arg) = fuzz_common::response(data);
    let challenge = resp.header("www-authenticate").and_then(bearer_challenge);
    let out = parse_probe(&resp);
    match (&out, resp.status) {
        (Ok(ProbeOutcome::AuthRequired(c)), 401) => assert_eq!(*c, challenge),
        (Ok(ProbeOutcome::AuthRequired(c)), 403) => assert!(c.is_some() && *c == challenge),
        (Ok(ProbeOutcome::Open(s)), status) => {
            assert_eq!(*s, status);
            assert!((200..300).contains(&status) || matches!(status, 400 | 404 | 405), "open on {status}");
        }
        (Err(_), 401) => panic!("401 refused"),
        (Err(_), 403) => assert!(challenge.is_none()),
        (Err(_), s) => assert!(!((200..300).contains(&s) || matches!(s, 400 | 404 | 405))),
        (Ok(o), s) => panic!("{o:?} on {s}"),
    }
    let server = ServerUrl::parse(if arg.is_empty() { "https://mcp.example.com/mcp" } else { &arg });
    if let (Ok(server), Ok(ProbeOutcome::AuthRequired(c))) = (server, out) {
        if let Ok(urls) = resource_metadata_urls(&server, c.as_ref()) {
            assert!(!urls.is_empty());
            for u in urls {
                assert!(fuzz_common::secure_oracle(&u), "R8: resource metadata URL {u}");
            }
        }
    }
});
