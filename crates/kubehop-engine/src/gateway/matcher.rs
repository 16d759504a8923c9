//! The route rule a request takes on a listener, by the Gateway API's precedence (GW5, GW6).

use kubehop_gateway_api::{GrpcRouteMatch, HttpRouteMatch, HttpValueMatch};

use super::hostname::{host_matches, specificity};
use super::request::HttpRequest;

/// How strongly one match matches, compared field by field (greater wins), in the order the
/// specification ranks them: hostname specificity, then path kind and length, method, number of
/// header matches, number of query parameter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct MatchStrength {
    pub hostname: (bool, usize),
    /// 3 `Exact`, 2 `PathPrefix`, 1 `RegularExpression` (gRPC: 2 when the service is given).
    pub path_kind: u8,
    pub path_len: usize,
    pub method: bool,
    pub headers: usize,
    pub query: usize,
}

/// The most specific hostname among `hostnames` (`None`: every host) that matches `host`;
/// `None` when none matches.
pub fn best_host<'h>(hostnames: &'h [Option<String>], host: &str) -> Option<&'h Option<String>> {
    hostnames
        .iter()
        .filter(|h| h.as_deref().is_none_or(|h| host_matches(h, host)))
        .max_by_key(|h| specificity(h.as_deref()))
}

/// A route's hostname strength for a request (GW6): the specificity of its matching hostname
/// when the route names hostnames, the least otherwise (a route that only inherits the
/// listener's hostname is less specific than one that names it); `None` when the route's
/// hostnames on the listener (`effective`) do not match `host`.
pub fn host_strength(
    own: &[String],
    effective: &[Option<String>],
    host: &str,
) -> Option<(bool, usize)> {
    let best = best_host(effective, host)?;
    Some(if own.is_empty() {
        (false, 0)
    } else {
        specificity(best.as_deref())
    })
}

/// Whether a `PathPrefix` matches: element-wise, a trailing `/` on the prefix ignored.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path.starts_with('/');
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn regex_matches(pattern: &str, value: &str) -> bool {
    // Anchored: the whole value must match, as the conformance tests expect.
    regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(value))
}

fn value_matches(m: &HttpValueMatch, value: &str) -> bool {
    match m.type_() {
        "RegularExpression" => regex_matches(&m.value, value),
        _ => m.value == value,
    }
}

/// The strength of one HTTPRoute match against `request`, or `None` when it does not match.
/// `m` is `None` for a rule without matches (`PathPrefix /`).
pub fn http_match(m: Option<&HttpRouteMatch>, request: &HttpRequest) -> Option<MatchStrength> {
    let Some(m) = m else {
        return prefix_matches("/", &request.path).then_some(MatchStrength {
            path_kind: 2,
            path_len: 1,
            ..MatchStrength::default()
        });
    };
    let (path_kind, path_len) = match &m.path {
        None => (2, 1),
        Some(p) => {
            let ok = match p.type_() {
                "Exact" => p.value() == request.path,
                "RegularExpression" => regex_matches(p.value(), &request.path),
                _ => prefix_matches(p.value(), &request.path),
            };
            if !ok {
                return None;
            }
            let kind = match p.type_() {
                "Exact" => 3,
                "RegularExpression" => 1,
                _ => 2,
            };
            (kind, p.value().trim_end_matches('/').len().max(1))
        }
    };
    if m.method
        .as_deref()
        .is_some_and(|method| method != request.method)
    {
        return None;
    }
    let headers = m.headers.as_deref().unwrap_or(&[]);
    if !headers
        .iter()
        .all(|h| request.header(&h.name).any(|v| value_matches(h, v)))
    {
        return None;
    }
    let query = m.query_params.as_deref().unwrap_or(&[]);
    if !query.iter().all(|q| {
        request
            .query
            .iter()
            .any(|(n, v)| *n == q.name && value_matches(q, v))
    }) {
        return None;
    }
    Some(MatchStrength {
        hostname: (false, 0),
        path_kind,
        path_len,
        method: m.method.is_some(),
        headers: headers.len(),
        query: query.len(),
    })
}

/// The strength of one GRPCRoute match against `request` (path `/service/method`).
pub fn grpc_match(m: Option<&GrpcRouteMatch>, request: &HttpRequest) -> Option<MatchStrength> {
    let Some(m) = m else {
        return Some(MatchStrength::default());
    };
    let (service, method) = request
        .path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", ""));
    let mut strength = MatchStrength::default();
    if let Some(mm) = &m.method {
        let regex = mm.type_.as_deref() == Some("RegularExpression");
        let check = |want: &Option<String>, got: &str| {
            want.as_deref().is_none_or(|w| {
                if regex {
                    regex_matches(w, got)
                } else {
                    w == got
                }
            })
        };
        if !check(&mm.service, service) || !check(&mm.method, method) {
            return None;
        }
        strength.path_kind = if mm.service.is_some() { 2 } else { 1 };
        strength.path_len = mm.service.as_deref().map_or(0, str::len);
        strength.method = mm.method.is_some();
    }
    let headers = m.headers.as_deref().unwrap_or(&[]);
    if !headers
        .iter()
        .all(|h| request.header(&h.name).any(|v| value_matches(h, v)))
    {
        return None;
    }
    strength.headers = headers.len();
    Some(strength)
}
