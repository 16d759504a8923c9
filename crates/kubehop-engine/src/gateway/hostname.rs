//! Hostname matching and intersection (rules GW2, GW3).

/// Lower-cased, without a trailing dot or a `:port`.
pub fn normalize_host(host: &str) -> String {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `pattern` (exact, or `*.suffix`) matches the concrete `host`. A wildcard matches one
/// or more labels before the suffix, never the suffix alone (GW2).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let host = normalize_host(host);
    match pattern.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        None => pattern == host,
    }
}

/// The intersection of a listener's hostname and a route's hostname (GW3): the more specific of
/// the two when one covers the other, else none. `None` on either side means "every hostname".
pub fn intersect(listener: Option<&str>, route: Option<&str>) -> Option<Option<String>> {
    match (listener, route) {
        (None, None) => Some(None),
        (Some(one), None) | (None, Some(one)) => Some(Some(one.to_ascii_lowercase())),
        (Some(l), Some(r)) => {
            let (l, r) = (l.to_ascii_lowercase(), r.to_ascii_lowercase());
            if l == r || covers(&l, &r) {
                Some(Some(r))
            } else if covers(&r, &l) {
                Some(Some(l))
            } else {
                None
            }
        }
    }
}

/// Whether the wildcard `outer` covers every name `inner` stands for (`inner` may itself be a
/// wildcard with a longer suffix).
fn covers(outer: &str, inner: &str) -> bool {
    let Some(suffix) = outer.strip_prefix('*') else {
        return false;
    };
    let inner_body = inner.strip_prefix('*').unwrap_or(inner);
    inner_body.ends_with(suffix) && inner_body.len() > suffix.len()
}

/// The hostnames a route has on a listener: each route hostname intersected with the listener's
/// (`[None]` when neither restricts). Empty: the route does not attach there by hostname.
pub fn effective_hostnames(listener: Option<&str>, route: &[String]) -> Vec<Option<String>> {
    if route.is_empty() {
        return vec![listener.map(str::to_ascii_lowercase)];
    }
    let mut out: Vec<Option<String>> = route
        .iter()
        .filter_map(|r| intersect(listener, Some(r)))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// How specific a matching hostname is, for precedence between routes (GW6): non-wildcard
/// before wildcard, then more characters. `None` (no hostname) is least specific.
pub fn specificity(hostname: Option<&str>) -> (bool, usize) {
    match hostname {
        None => (false, 0),
        Some(h) => (!h.starts_with('*'), h.len()),
    }
}
