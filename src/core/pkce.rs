//! PKCE (RFC 7636) with the S256 method, and the `state` value — R14, R17.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub use super::secret::CodeVerifier;

impl CodeVerifier {
    /// RFC 7636 §4.1: 32 random bytes, base64url without padding (43 characters).
    pub fn from_random_bytes(bytes: &[u8; 32]) -> Self {
        Self::new(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
    pub fn challenge_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.secret().as_bytes()))
    }
}

/// A random `state` value (RFC 6749 §10.12): 16 random bytes, base64url.
pub fn random_state(bytes: &[u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// R14: whether the authorization server's metadata allows S256; `false` means refuse with
/// `pkce_unsupported`. An absent list is refused unless the app allowed it.
pub fn s256_allowed(methods: Option<&[String]>, allow_missing: bool) -> bool {
    match methods {
        Some(list) => list.iter().any(|m| m == "S256"),
        None => allow_missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn r14_rfc7636_appendix_b() {
        let bytes = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191,
            240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let v = CodeVerifier::from_random_bytes(&bytes);
        assert_eq!(v.secret(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(v.challenge_s256(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn r14_verifier_is_43_unreserved_chars_and_redacted() {
        let v = CodeVerifier::from_random_bytes(&[0xff; 32]);
        assert_eq!(v.secret().len(), 43);
        assert!(
            v.secret()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(format!("{v:?}"), "CodeVerifier([redacted])");
    }

    /// base64url without padding: `-` and `_` for `+` and `/`, no `=`.
    #[test]
    fn r17_state_is_base64url_without_padding() {
        assert_eq!(random_state(&[0xfb; 16]), "-_v7-_v7-_v7-_v7-_v7-w");
        assert_eq!(random_state(&[0; 16]).len(), 22);
    }

    #[test]
    fn r14_s256_must_be_listed_unless_allowed() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(s256_allowed(Some(&s(&["plain", "S256"])), false));
        assert!(!s256_allowed(Some(&s(&["plain"])), true));
        assert!(!s256_allowed(None, false));
        assert!(s256_allowed(None, true));
    }
}
