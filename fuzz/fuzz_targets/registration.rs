//! Dynamic client registration (RFC 7591 §3.2, R12): `parse_registration` on any response, for
//! the redirect URI on the status line (`201 https://app.example/callback`).
//! Invariants: no panic; an accepted client has a non-empty id, our redirect URI (listed by the
//! server when it lists any) and comes from a 2xx; R33 — the client record as the engine
//! stores it (`ClientRecord`, serde JSON) never holds the client secret: it is the same JSON as
//! the record without a secret, and reloads without one; R31 — the client's `Debug` does not
//! depend on the secret, and no error's message carries a credential-like run of the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::registration::{Client, ClientSource, RegistrationError, parse_registration};
use mcp_oauth_wasm::core::secret::ClientSecret;
use mcp_oauth_wasm::flow::records::{ClientRecord, RECORD_VERSION};

fn record(client: &Client) -> String {
    serde_json::to_string(&ClientRecord { v: RECORD_VERSION, issuer: "https://as.example.com".into(), client: client.clone(), scope: None }).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let (resp, arg) = fuzz_common::response(data);
    let redirect = if arg.is_empty() { "https://app.example/callback" } else { arg.as_str() };
    match parse_registration(&resp, redirect) {
        Ok(client) => {
            assert!(resp.is_success());
            assert!(!client.client_id.is_empty());
            assert_eq!(client.redirect_uri, redirect);
            assert_eq!(client.source, ClientSource::Dynamic);
            let listed = mcp_oauth_wasm::core::http::parse_json::<serde_json::Value>(&resp.body)
                .and_then(|v| v.get("redirect_uris").cloned());
            if let Some(serde_json::Value::Array(uris)) = listed {
                assert!(uris.iter().any(|u| u.as_str() == Some(redirect)), "a client whose listed redirect URIs lack ours");
            }
            // R33: what is stored does not hold the secret
            let mut without = client.clone();
            without.client_secret = None;
            let stored = record(&client);
            assert_eq!(stored, record(&without), "R33: the stored client record depends on the secret");
            let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
            assert!(v["client"].get("client_secret").is_none(), "R33: client_secret stored: {stored}");
            let back: ClientRecord = serde_json::from_str(&stored).expect("the stored record reloads");
            assert!(back.client.client_secret.is_none());
            assert_eq!(back.client, without);
            // R31: Debug never shows it
            if client.client_secret.is_some() {
                let mut other = client.clone();
                other.client_secret = Some(ClientSecret::new("another value"));
                assert_eq!(format!("{client:?}"), format!("{other:?}"), "R31: Debug shows the secret");
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!fuzz_common::has_secret_like_run(&msg), "R31: a credential-like run in {msg:?}");
            if let RegistrationError::Refused { status, said_text, .. } = &e {
                assert!((400..500).contains(status));
                assert!(!said_text.as_deref().is_some_and(fuzz_common::has_secret_like_run));
            }
        }
    }
});
