//! Building text without `core::fmt`: `format!` and `to_string()` on numbers link its padding
//! and integer code into the wasm, and `[T]::join` / `concat` a generic join. Messages, storage
//! keys and URLs are built with these instead (see `cat!` in `lib.rs`).

#[allow(unused_imports)]
use crate::prelude::*;

/// The pieces, joined (for `cat!`; `[&str]::concat` links a generic join).
pub fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// A number's decimal text, without `core::fmt`.
pub fn num(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().map(|&d| char::from(d)).collect()
}

/// `items` separated by `sep` (what `[T]::join` does, without its generic code in the wasm).
pub fn join<'a>(items: impl Iterator<Item = &'a str>, sep: char) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(sep);
        }
        out.push_str(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_concat_and_join_match_std() {
        for n in [0u64, 7, 10, 401, 65535, u64::MAX] {
            assert_eq!(num(n), n.to_string());
        }
        assert_eq!(cat!("a", String::from("b"), &String::from("c")), "abc");
        assert_eq!(join(["x", "y", "z"].into_iter(), ' '), "x y z");
        assert_eq!(join(core::iter::empty(), '&'), "");
        assert_eq!(join(["", "a"].into_iter(), '&'), "&a");
    }
}
