//! Linear time in the parsers a server's answer reaches (the rule: an input scaled 4×
//! costs at most ~6×). Input: one byte choosing the parser, then `prefix\nunit\nsuffix`: the
//! parser's input is the prefix, the unit repeated (each `#` replaced by the copy's number) and
//! the suffix, grown to ~1 KB and to 4× that (see `fuzz_common::superlinear`). The union of
//! scopes has its own target (`scopes`).
#![no_main]

use std::hint::black_box;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::authorize::{CallbackParams, parse_callback_url};
use mcp_oauth_wasm::core::challenge::bearer_challenge;
use mcp_oauth_wasm::core::discovery::{parse_authorization_server_metadata, parse_probe, parse_resource_metadata};
use mcp_oauth_wasm::core::error::server_said;
use mcp_oauth_wasm::core::http::{HttpResponse, parse_json};
use mcp_oauth_wasm::core::registration::parse_registration;
use mcp_oauth_wasm::core::resource::ServerUrl;
use mcp_oauth_wasm::core::revocation::parse_revocation;
use mcp_oauth_wasm::core::token::parse_token_response;

const PARSERS: [&str; 11] = [
    "challenge",
    "probe",
    "callback_url",
    "token",
    "registration",
    "resource_metadata",
    "as_metadata",
    "server_said",
    "server_url",
    "popup_message",
    "revocation",
];

fn ok(body: &str) -> HttpResponse {
    HttpResponse::new(200, vec![("content-type".into(), "application/json".into())], body)
}

fn run(which: usize, input: &str, server: &ServerUrl) {
    match which {
        0 => drop(black_box(bearer_challenge(input))),
        1 => drop(black_box(parse_probe(&HttpResponse::new(401, vec![("www-authenticate".into(), input.into())], "")))),
        2 => drop(black_box(parse_callback_url(input))),
        3 => drop(black_box(parse_token_response(&ok(input), 1_700_000_000_000))),
        4 => drop(black_box(parse_registration(&HttpResponse::new(201, vec![], input), "https://app.example/callback"))),
        5 => drop(black_box(parse_resource_metadata(&ok(input), server))),
        6 => drop(black_box(parse_authorization_server_metadata(&ok(input), "https://as.example.com"))),
        7 => drop(black_box(server_said(input))),
        8 => drop(black_box(ServerUrl::parse(input))),
        9 => drop(black_box(parse_json::<CallbackParams>(input))),
        _ => drop(black_box(parse_revocation(&HttpResponse::new(400, vec![], input)))),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let which = selector as usize % PARSERS.len();
    let s = fuzz_common::text(rest);
    let grow = fuzz_common::Scalable::from_text(&s);
    let server = ServerUrl::parse("https://mcp.example.com/mcp").unwrap();
    if let Some(why) = fuzz_common::superlinear(&grow, 1024, Duration::from_micros(30), |input| run(which, input, &server)) {
        panic!("{} is not linear: {why}; prefix {:?}, unit {:?}, suffix {:?}", PARSERS[which], grow.prefix, grow.unit, grow.suffix);
    }
});
