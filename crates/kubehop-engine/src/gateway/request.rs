//! The request a Gateway routes: host, path, method, headers and query parameters.

/// An HTTP (or gRPC) request as a Gateway's listener sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// The `Host` header or `:authority` (a `:port` is ignored).
    pub host: String,
    /// The path, without the query.
    pub path: String,
    pub method: String,
    /// Header names compare case-insensitively.
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
}

impl HttpRequest {
    /// A `GET` of `target` (a path with an optional `?query`) on `host`.
    pub fn get(host: &str, target: &str) -> Self {
        Self::new("GET", host, target)
    }

    /// A request of `method` for `target` (a path with an optional `?query`) on `host`.
    pub fn new(method: &str, host: &str, target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (name.to_owned(), value.to_owned())
            })
            .collect();
        HttpRequest {
            host: host.to_owned(),
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            method: method.to_owned(),
            headers: Vec::new(),
            query,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The values of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether it is a gRPC call (`content-type: application/grpc...`).
    pub fn is_grpc(&self) -> bool {
        self.header("content-type")
            .any(|v| v.to_ascii_lowercase().starts_with("application/grpc"))
    }
}
