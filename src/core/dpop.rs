//! DPoP, RFC 9449 (R34): the proof JWT a request carries, built here as its signing input; the
//! signature comes from the shell's non-extractable WebCrypto key (ES256, whose raw `r || s`
//! output is the JWS signature as it is, RFC 7518 §3.4).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use super::challenge::parse_challenges;
use super::discovery::{AuthServerMetadata, ResourceMetadata};
use super::http::HttpResponse;
use super::secret::AccessToken;

/// The one algorithm this client signs with: ECDSA P-256 with SHA-256.
pub const ALG: &str = "ES256";

/// The public half of a P-256 key, as a JWK (RFC 7517 §4, RFC 7518 §6.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// RFC 7518 §6.2.1.1: the curve, `P-256`.
    pub crv: String,
    /// RFC 7517 §4.1: the key type, `EC`.
    pub kty: String,
    /// RFC 7518 §6.2.1.2: the point's x coordinate, base64url.
    pub x: String,
    /// RFC 7518 §6.2.1.3: the point's y coordinate, base64url.
    pub y: String,
}

/// R34: when tokens are bound with DPoP (the `dpop` option).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DpopMode {
    /// When both servers take it: the resource's metadata says it accepts DPoP and the
    /// authorization server lists ES256.
    #[default]
    Auto,
    /// Whenever the authorization server lists ES256 (for resources that take DPoP without
    /// saying so).
    Always,
    /// Never: Bearer.
    Never,
}

impl DpopMode {
    /// The option's value, `None` for anything else.
    pub fn parse(value: &str) -> Option<DpopMode> {
        match value {
            "auto" => Some(DpopMode::Auto),
            "always" => Some(DpopMode::Always),
            "never" => Some(DpopMode::Never),
            _ => None,
        }
    }
}

/// RFC 9728 §2 as RFC 9449 reads it: the resource says it accepts DPoP-bound tokens when it
/// requires them or lists ES256 among the proof algorithms it takes.
pub fn resource_takes_dpop(resource: Option<&ResourceMetadata>) -> bool {
    resource.is_some_and(|r| {
        r.dpop_bound_access_tokens_required || lists_es256(r.dpop_signing_alg_values_supported.as_deref())
    })
}

fn lists_es256(algs: Option<&[String]>) -> bool {
    algs.is_some_and(|algs| algs.iter().any(|a| a == ALG))
}

/// R34: whether new tokens for a server are bound with DPoP. An authorization server that
/// merely supports DPoP (RFC 9449 §5.1) never makes a Bearer-only resource unusable: in `Auto`
/// mode the resource has to say it takes DPoP too.
pub fn server_uses_dpop(
    mode: DpopMode,
    authorization_server: &AuthServerMetadata,
    resource: Option<&ResourceMetadata>,
) -> bool {
    let as_lists = lists_es256(authorization_server.dpop_signing_alg_values_supported.as_deref());
    match mode {
        DpopMode::Never => false,
        DpopMode::Always => as_lists,
        DpopMode::Auto => as_lists && resource_takes_dpop(resource),
    }
}

/// RFC 9449 §7.1: a token of type `DPoP` (case-insensitive) is sent with the `DPoP` scheme and a
/// proof; any other with `Bearer`.
pub fn is_dpop_bound(token_type: &str) -> bool {
    token_type.eq_ignore_ascii_case("dpop")
}

/// RFC 9449 §4.2 `htu`: the request URI without query and fragment.
pub fn htu(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.into()
}

/// RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII bytes.
pub fn ath(token: &AccessToken) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.secret().as_bytes()))
}

#[derive(Serialize)]
struct Header<'a> {
    typ: &'a str,
    alg: &'a str,
    jwk: &'a PublicJwk,
}

/// The claims of one proof (RFC 9449 §4.2).
#[derive(Debug, Serialize)]
pub struct Claims<'a> {
    /// RFC 9449 §4.2: a fresh random id per proof (R34), so that no proof is replayed.
    pub jti: &'a str,
    /// RFC 9449 §4.2: the request's HTTP method (`GET`, `POST`).
    pub htm: &'a str,
    /// RFC 9449 §4.2: the request URI without query and fragment ([`htu`]).
    pub htu: String,
    /// RFC 9449 §4.2: when the proof was made, in seconds since the epoch on the browser's clock.
    pub iat: u64,
    /// RFC 9449 §8, §9: the server's last `DPoP-Nonce`, when it asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    /// RFC 9449 §4.2: the access token's hash ([`ath`]), on resource requests only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ath: Option<String>,
}

fn b64_json<T: Serialize>(value: &T) -> String {
    // serializing these plain structs cannot fail
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// The JWS signing input `base64url(header) "." base64url(claims)` (RFC 7515 §5.1).
pub fn signing_input(jwk: &PublicJwk, claims: &Claims<'_>) -> String {
    format!(
        "{}.{}",
        b64_json(&Header {
            typ: "dpop+jwt",
            alg: ALG,
            jwk
        }),
        b64_json(claims)
    )
}

/// The compact proof: the signing input and the signature.
pub fn compact(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// RFC 9449 §8: an authorization server that wants a nonce answers 400 `use_dpop_nonce` with
/// the nonce in `DPoP-Nonce`.
pub fn authorization_server_nonce(resp: &HttpResponse) -> Option<&str> {
    #[derive(Deserialize)]
    struct Error {
        error: String,
    }
    let wants = resp.status == 400 && resp.json::<Error>().is_some_and(|e| e.error == "use_dpop_nonce");
    wants.then(|| resp.header("dpop-nonce")).flatten()
}

/// R34: a challenge that offers the `Bearer` scheme and not `DPoP` (RFC 9449 §7.1): the server
/// does not take DPoP-bound tokens.
pub fn offers_bearer_only(www_authenticate: &str) -> bool {
    let challenges = parse_challenges(www_authenticate);
    challenges.iter().any(|c| c.scheme == "bearer") && !challenges.iter().any(|c| c.scheme == "dpop")
}

/// RFC 9449 §9: a resource server that wants a nonce answers 401 with a `DPoP` challenge whose
/// error is `use_dpop_nonce`, and the nonce in `DPoP-Nonce`.
pub fn resource_server_nonce<'a>(
    status: u16,
    www_authenticate: Option<&str>,
    dpop_nonce: Option<&'a str>,
) -> Option<&'a str> {
    let challenged = status == 401
        && www_authenticate.is_some_and(|h| {
            parse_challenges(h)
                .iter()
                .any(|c| c.scheme == "dpop" && c.param("error") == Some("use_dpop_nonce"))
        });
    challenged.then_some(dpop_nonce).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk() -> PublicJwk {
        PublicJwk {
            crv: "P-256".into(),
            kty: "EC".into(),
            x: "x-coord".into(),
            y: "y-coord".into(),
        }
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn r34_proof_header_and_claims() {
        let token = AccessToken::new("the-token");
        let claims = Claims {
            jti: "j-1",
            htm: "POST",
            htu: htu(&Url::parse("https://mcp.example/mcp?x=1#f").unwrap()),
            iat: 1_700_000_000,
            nonce: Some("n-1"),
            ath: Some(ath(&token)),
        };
        let input = signing_input(&jwk(), &claims);
        let proof = compact(&input, &[1, 2, 3]);
        let parts: Vec<&str> = proof.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode(parts[0]),
            serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"crv": "P-256", "kty": "EC", "x": "x-coord", "y": "y-coord"}})
        );
        let c = decode(parts[1]);
        assert_eq!(
            (c["jti"].as_str(), c["htm"].as_str(), c["iat"].as_u64()),
            (Some("j-1"), Some("POST"), Some(1_700_000_000))
        );
        assert_eq!(c["htu"], "https://mcp.example/mcp", "no query, no fragment");
        assert_eq!(c["nonce"], "n-1");
        // RFC 9449 §4.2: base64url(SHA-256("the-token"))
        assert_eq!(c["ath"], URL_SAFE_NO_PAD.encode(Sha256::digest(b"the-token")));
        assert_eq!(parts[2], "AQID");
        // no nonce, no ath: the members are absent, not null
        let bare = Claims {
            jti: "j",
            htm: "POST",
            htu: "https://as.example/token".into(),
            iat: 1,
            nonce: None,
            ath: None,
        };
        let c = decode(signing_input(&jwk(), &bare).split('.').nth(1).unwrap());
        assert!(c.get("nonce").is_none() && c.get("ath").is_none(), "{c}");
    }

    #[test]
    fn r34_htu_normalisation() {
        let h = |s: &str| htu(&Url::parse(s).unwrap());
        assert_eq!(h("https://AS.Example:443/token?a=b"), "https://as.example/token");
        assert_eq!(h("http://127.0.0.1:9411/mcp#x"), "http://127.0.0.1:9411/mcp");
        assert_eq!(h("https://as.example"), "https://as.example/");
    }

    #[test]
    fn r34_the_scheme_follows_the_token_type() {
        assert!(is_dpop_bound("DPoP") && is_dpop_bound("dpop") && is_dpop_bound("DPOP"));
        assert!(!is_dpop_bound("Bearer") && !is_dpop_bound("bearer") && !is_dpop_bound(""));
    }

    #[test]
    fn r34_nonce_challenges() {
        let with_nonce =
            |status, body: &str| HttpResponse::new(status, vec![("dpop-nonce".into(), "n-2".into())], body);
        assert_eq!(
            authorization_server_nonce(&with_nonce(400, r#"{"error":"use_dpop_nonce"}"#)),
            Some("n-2")
        );
        assert_eq!(
            authorization_server_nonce(&with_nonce(400, r#"{"error":"invalid_grant"}"#)),
            None
        );
        assert_eq!(
            authorization_server_nonce(&HttpResponse::new(400, vec![], r#"{"error":"use_dpop_nonce"}"#)),
            None,
            "no nonce, no retry"
        );
        let h = r#"Bearer resource_metadata="x", DPoP error="use_dpop_nonce", algs="ES256""#;
        assert_eq!(resource_server_nonce(401, Some(h), Some("n-3")), Some("n-3"));
        assert_eq!(
            resource_server_nonce(401, Some(r#"DPoP error="invalid_token""#), Some("n-3")),
            None
        );
        assert_eq!(resource_server_nonce(403, Some(h), Some("n-3")), None);
    }

    /// R34: every `dpop` mode against every combination of what the two servers say.
    #[test]
    fn r34_dpop_only_where_both_servers_take_it_every_mode() {
        let meta = |algs: Option<&[&str]>| {
            let mut v = serde_json::json!({"issuer": "https://as.example", "authorization_endpoint": "https://as.example/a", "token_endpoint": "https://as.example/t"});
            if let Some(a) = algs {
                v["dpop_signing_alg_values_supported"] = serde_json::json!(a);
            }
            serde_json::from_value::<AuthServerMetadata>(v).unwrap()
        };
        let prm = |doc: serde_json::Value| {
            let mut v = serde_json::json!({"resource": "https://mcp.example/mcp"});
            v.as_object_mut().unwrap().extend(doc.as_object().unwrap().clone());
            serde_json::from_value::<ResourceMetadata>(v).unwrap()
        };
        let as_es256 = meta(Some(&["RS256", "ES256"]));
        let as_eddsa = meta(Some(&["EdDSA"]));
        let as_none = meta(None);
        let rs_silent = prm(serde_json::json!({}));
        let rs_required = prm(serde_json::json!({"dpop_bound_access_tokens_required": true}));
        let rs_not_required = prm(serde_json::json!({"dpop_bound_access_tokens_required": false}));
        let rs_es256 = prm(serde_json::json!({"dpop_signing_alg_values_supported": ["ES256", "EdDSA"]}));
        let rs_eddsa = prm(serde_json::json!({"dpop_signing_alg_values_supported": ["EdDSA"]}));
        let rs_null = prm(
            serde_json::json!({"dpop_bound_access_tokens_required": null, "dpop_signing_alg_values_supported": null}),
        );
        use DpopMode::*;
        // (mode, AS, resource, DPoP?)
        let cases: &[(DpopMode, &AuthServerMetadata, Option<&ResourceMetadata>, bool, &str)] = &[
            (
                Auto,
                &as_es256,
                None,
                false,
                "no resource metadata: Bearer, whatever the AS lists",
            ),
            (
                Auto,
                &as_es256,
                Some(&rs_silent),
                false,
                "a Bearer-only resource behind a DPoP-capable AS (the oidc-provider default)",
            ),
            (
                Auto,
                &as_es256,
                Some(&rs_not_required),
                false,
                "not required, no algorithms listed",
            ),
            (Auto, &as_es256, Some(&rs_null), false, "null members read as absent"),
            (
                Auto,
                &as_es256,
                Some(&rs_eddsa),
                false,
                "the resource takes only an algorithm this client does not sign with",
            ),
            (Auto, &as_es256, Some(&rs_es256), true, "both list ES256"),
            (
                Auto,
                &as_es256,
                Some(&rs_required),
                true,
                "the resource requires bound tokens",
            ),
            (Auto, &as_eddsa, Some(&rs_es256), false, "the AS does not list ES256"),
            (Auto, &as_none, Some(&rs_required), false, "the AS does not offer DPoP"),
            (Always, &as_es256, None, true, "always: the AS's list alone"),
            (
                Always,
                &as_es256,
                Some(&rs_silent),
                true,
                "always: a resource that takes DPoP without saying so",
            ),
            (
                Always,
                &as_eddsa,
                Some(&rs_es256),
                false,
                "always still needs ES256 at the AS",
            ),
            (
                Always,
                &as_none,
                Some(&rs_required),
                false,
                "always: nothing to bind with",
            ),
            (Never, &as_es256, Some(&rs_required), false, "never: Bearer"),
            (Never, &as_es256, Some(&rs_es256), false, "never: Bearer"),
        ];
        for (mode, as_meta, rs, want, why) in cases {
            assert_eq!(server_uses_dpop(*mode, as_meta, *rs), *want, "{mode:?}: {why}");
        }
        assert_eq!(DpopMode::default(), Auto);
        assert_eq!(
            (
                DpopMode::parse("auto"),
                DpopMode::parse("always"),
                DpopMode::parse("never")
            ),
            (Some(Auto), Some(Always), Some(Never))
        );
        assert_eq!(DpopMode::parse("Always"), None);
        assert_eq!(DpopMode::parse("true"), None);
    }
}
