//! Base64 encoding (RFC 4648): §4 with padding for HTTP Basic credentials (RFC 7617), §5
//! base64url without padding for PKCE and `state` (RFC 7636 Appendix A). Encoding only; the
//! client never decodes base64. Twenty lines instead of a crate (size).

#[allow(unused_imports)]
use crate::prelude::*;

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `url = true`: RFC 4648 §5 alphabet, no `=` padding; `false`: §4 alphabet with padding.
pub fn encode(bytes: &[u8], url: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk.first().copied().unwrap_or(0), chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let c = STD[((n >> (18 - 6 * i)) & 63) as usize];
                out.push(match (url, c) {
                    (true, b'+') => '-',
                    (true, b'/') => '_',
                    _ => char::from(c),
                });
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10 test vectors, both alphabets.
    #[test]
    fn rfc4648_section10_vectors() {
        let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")];
        for (input, want) in cases {
            assert_eq!(encode(input.as_bytes(), false), want);
            assert_eq!(encode(input.as_bytes(), true), want.trim_end_matches('='));
        }
    }

    #[test]
    fn url_alphabet_replaces_plus_and_slash() {
        assert_eq!(encode(&[0xfb, 0xff, 0xbf], false), "+/+/");
        assert_eq!(encode(&[0xfb, 0xff, 0xbf], true), "-_-_");
    }
}
