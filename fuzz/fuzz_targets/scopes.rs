//! Scopes (R16, R28): `union_scopes` and `choose_scope`. Input: the granted scope on the first
//! line, the challenged one on the second, the resource's `scopes_supported` (space-separated)
//! on the third, then one byte: bit 0 asks for offline access, bit 1 has the AS list
//! `offline_access`.
//! Invariants: no panic; the union is each word of granted then challenged once, in order (an
//! oracle with a set), `None` when there is none; the chosen scope is the challenge's (trimmed)
//! or the resource's list, plus `offline_access` exactly when asked for and listed; and linear
//! time: the union of a scope grown 4× (see `fuzz_common::superlinear`) costs at most ~6×.
#![no_main]

use std::collections::HashSet;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mcp_oauth_wasm::core::authorize::{MAX_SCOPE_BYTES, MAX_SCOPES, ScopeError, choose_scope, union_scopes};

/// One list as the caps read it (R32): the first entry past `MAX_SCOPES`, or the first longer
/// than `MAX_SCOPE_BYTES`, is an error.
fn capped_oracle(list: &str) -> Result<Vec<&str>, ScopeError> {
    let mut out = Vec::new();
    for (i, w) in list.split_whitespace().enumerate() {
        if i == MAX_SCOPES {
            return Err(ScopeError::TooMany);
        }
        if w.len() > MAX_SCOPE_BYTES {
            return Err(ScopeError::TooLong);
        }
        out.push(w);
    }
    Ok(out)
}

fn union_oracle(granted: Option<&str>, challenged: Option<&str>) -> Result<Option<String>, ScopeError> {
    let mut seen = HashSet::new();
    let mut words = Vec::new();
    for list in granted.into_iter().chain(challenged) {
        for w in capped_oracle(list)? {
            if seen.insert(w) {
                if words.len() == MAX_SCOPES {
                    return Err(ScopeError::TooMany);
                }
                words.push(w);
            }
        }
    }
    Ok((!words.is_empty()).then(|| words.join(" ")))
}

fuzz_target!(|data: &[u8]| {
    let s = fuzz_common::text(data);
    let (granted, rest) = fuzz_common::split_line(&s);
    let (challenged, rest) = fuzz_common::split_line(rest);
    let (resource, rest) = fuzz_common::split_line(rest);
    let flags = rest.bytes().next().unwrap_or(0);
    for (g, c) in [(Some(granted), Some(challenged)), (None, Some(challenged)), (Some(granted), None)] {
        assert_eq!(union_scopes(g, c), union_oracle(g, c), "union of {g:?} and {c:?}");
    }

    let resource_list: Vec<String> = resource.split_whitespace().map(str::to_string).collect();
    let as_list = if flags & 2 != 0 { vec!["openid".to_string(), "offline_access".to_string()] } else { vec!["openid".to_string()] };
    let want_offline = flags & 1 != 0;
    let challenge = (!challenged.is_empty()).then_some(challenged);
    let chosen = choose_scope(challenge, Some(&resource_list), Some(&as_list), want_offline);
    let base = match challenge {
        Some(c) if !c.trim().is_empty() => capped_oracle(c).map(|w| w.join(" ")),
        _ => capped_oracle(&resource_list.join(" ")).map(|w| w.join(" ")),
    };
    // R32: past the caps, the same error as the oracle's, and nothing else to check
    let (chosen, base) = match (chosen, base) {
        (Err(e), Err(o)) => {
            assert_eq!(e, o);
            return;
        }
        (Ok(c), Ok(b)) => (c, b),
        (c, b) => panic!("choose_scope gave {c:?} where the caps give {b:?}"),
    };
    let has_offline = |s: &str| s.split(' ').any(|w| w == "offline_access");
    match &chosen {
        Some(scope) => {
            assert!(!scope.is_empty());
            assert!(scope.starts_with(&base), "{scope:?} does not start with {base:?}");
            assert_eq!(has_offline(scope), has_offline(&base) || (want_offline && flags & 2 != 0));
        }
        None => assert!(base.is_empty() && !(want_offline && flags & 2 != 0)),
    }

    // linear time: the granted line as prefix, the challenged line as the unit that grows
    // (`#` numbers each copy, so that copies are distinct scopes), the resource line as suffix
    let grow = fuzz_common::Scalable { prefix: granted, unit: challenged, suffix: resource };
    if let Some(why) = fuzz_common::superlinear(&grow, 1024, Duration::from_micros(30), |s| {
        let _ = std::hint::black_box(union_scopes(Some(std::hint::black_box(s)), Some(s)));
    }) {
        panic!("union_scopes is not linear: {why}; unit {challenged:?}");
    }
});
