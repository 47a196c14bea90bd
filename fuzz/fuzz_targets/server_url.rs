//! The server URL (R8, R15): `parse_server_url` / `ServerUrl::parse`. Input: the URL as typed on
//! the first line, and optionally the browser's serialization of it on the second.
//! Invariants: no panic; an accepted URL is https or loopback http without user info (an oracle
//! written apart) and has no fragment; its canonical text is a fixed point (parsing it again
//! gives the same text and URL); `parse` is `parse_as` of the text itself; the metadata URLs
//! derived from it are secure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::discovery::{authorization_server_metadata_urls, parse_server_url, resource_metadata_urls};
use mcp_oauth_wasm::core::resource::ServerUrl;

fuzz_target!(|data: &[u8]| {
    let s = fuzz_common::text(data);
    let (typed, rest) = fuzz_common::split_line(&s);
    let ascii = if rest.is_empty() { typed } else { fuzz_common::split_line(rest).0 };
    let direct = ServerUrl::parse(typed);
    assert_eq!(direct, ServerUrl::parse_as(typed, typed));
    for parsed in [parse_server_url(typed, ascii).ok(), direct.ok()].into_iter().flatten() {
        let url = parsed.url();
        assert!(fuzz_common::secure_oracle(url), "R8: {url}");
        assert!(url.fragment().is_none());
        let canonical = parsed.as_str();
        assert!(canonical == url.as_str() || format!("{canonical}/") == url.as_str() || url.as_str().replacen("/?", "?", 1) == canonical, "{canonical} for {url}");
        let again = ServerUrl::parse(canonical).unwrap_or_else(|e| panic!("R15: canonical {canonical:?} does not parse: {e}"));
        assert_eq!(again.as_str(), canonical, "R15: canonical text is not a fixed point");
        assert_eq!(again.url(), url, "R15: canonical URL is not a fixed point");
        for u in resource_metadata_urls(&parsed, None).unwrap().iter().chain(&authorization_server_metadata_urls(url)) {
            assert!(fuzz_common::secure_oracle(u), "R8: {u} from {url}");
        }
    }
});
