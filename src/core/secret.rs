//! Secret values (RFC 6749 §10.3, §10.4; RFC 7636 §7.1): tokens, the PKCE verifier, the client
//! secret and the authorization code. Their `Debug` prints `[redacted]` and they have no `Display`,
//! so a secret cannot reach a log, an error message or an event by accident (R31). They serialize
//! as their plain string only where a record is stored.

macro_rules! secret {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps the plain value; from here on nothing prints it (R31).
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The secret itself, for the one place that must send it.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}([redacted])", stringify!($name))
            }
        }
    };
}

secret!(
    /// An OAuth access token (RFC 6749 §1.4).
    AccessToken
);
secret!(
    /// An OAuth refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret!(
    /// A client secret (RFC 6749 §2.3.1).
    ClientSecret
);
secret!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthCode
);
secret!(
    /// A PKCE code verifier (RFC 7636 §4.1), kept with its pending flow.
    CodeVerifier
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r31_debug_output_never_shows_the_secret() {
        let t = AccessToken::new("eyJsecret");
        let r = RefreshToken::new("rt-secret");
        let s = ClientSecret::new("cs-secret");
        let c = AuthCode::new("code-secret");
        let all = format!("{t:?} {r:?} {s:?} {c:?}");
        assert!(!all.contains("secret\""), "{all}");
        for needle in ["eyJsecret", "rt-secret", "cs-secret", "code-secret"] {
            assert!(!all.contains(needle), "{needle} leaked in {all}");
        }
        assert!(all.contains("AccessToken([redacted])"));
    }
}
