//! Protected-resource metadata (RFC 9728, R3–R5): `parse_resource_metadata` on any response,
//! judged against the server URL on the status line (`200 https://mcp.example.com/mcp`).
//! Invariants: no panic; R4 — a document is accepted only with status 200 and a `resource` that
//! covers the server (checked by an oracle written apart: same scheme, host and port, and a
//! whole-segment path prefix), and a well-formed 200 document whose `resource` covers the server
//! is not refused; the stored form (the raw document) reads back to the same members.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::discovery::{DiscoveryError, Document, ResourceMetadata, parse_resource_metadata};
use mcp_oauth_wasm::core::http::parse_json;
use mcp_oauth_wasm::core::resource::ServerUrl;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let (resp, arg) = fuzz_common::response(data);
    let Ok(server) = ServerUrl::parse(if arg.is_empty() { "https://mcp.example.com/mcp" } else { &arg }) else { return };
    let out = parse_resource_metadata(&resp, &server);
    // what an independent reading says about the document
    let doc = parse_json::<serde_json::Value>(&resp.body).and_then(|v| Document::<ResourceMetadata>::from_value(v).ok());
    let covers = doc.as_ref().and_then(|d| Url::parse(&d.fields.resource).ok()).is_some_and(|r| fuzz_common::covers_oracle(&r, server.url()));
    match &out {
        Ok(d) => {
            assert_eq!(resp.status, 200);
            assert!(d.raw.is_object());
            assert_eq!(d.raw.get("resource").and_then(|r| r.as_str()), Some(d.fields.resource.as_str()));
            let r = Url::parse(&d.fields.resource).expect("R4: an accepted resource parses");
            assert!(fuzz_common::covers_oracle(&r, server.url()), "R4: {} accepted for {}", d.fields.resource, server);
            // stored as the raw document, read again on load
            let stored = serde_json::to_string(d).unwrap();
            let back: Document<ResourceMetadata> = serde_json::from_str(&stored).expect("the stored document reloads");
            assert_eq!(back.fields, d.fields);
        }
        Err(DiscoveryError::ResourceMismatch { .. }) => {
            assert!(!covers, "R4: a covering resource refused for {server}");
        }
        Err(_) => {
            assert!(!(resp.status == 200 && doc.is_some()), "a well-formed 200 document refused: {out:?}");
        }
    }
});
