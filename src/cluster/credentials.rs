//! Credentials from a kubeconfig, checked before any client is built, and secrets kept out of
//! messages.
//!
//! kube-rs turns a static bearer token into an HTTP header while building the client and
//! panics when the token is not a valid header value (a newline or another control character
//! in it, e.g. `"<token>\nX-Evil: 1"`). [`check_credentials`] finds such a value first and says
//! which kubeconfig field holds it, without ever printing the value itself; for an exec
//! credential plugin, [`settle_exec_credentials`] runs the plugin first and checks the token it
//! prints.
//!
//! [`redact_urls`] hides the password (or a lone token) of every `scheme://user:password@host`
//! in a text, and the values of `token`/`password`-like query parameters.

use std::borrow::Cow;

use kube::config::AuthInfo;
use secrecy::ExposeSecret;

/// A kubeconfig credential that cannot be sent: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCredential {
    /// The kubeconfig field, e.g. `users[].user.token`.
    pub field: &'static str,
    /// What is wrong, in words (never the value).
    pub problem: String,
}

/// What is wrong with a value that must become an HTTP header, if anything.
fn header_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let bad = value
        .chars()
        .find(|&c| (c.is_control() && c != '\t') || c == '\u{7f}')?;
    let name = match bad {
        '\n' => "a line break".to_owned(),
        '\r' => "a carriage return".to_owned(),
        '\u{0}' => "a NUL character".to_owned(),
        other => format!("the control character U+{:04X}", u32::from(other)),
    };
    Some(format!(
        "contains {name}, which cannot be sent in an HTTP header"
    ))
}

/// Checks every credential of `auth` that kube-rs sends as a header as it is written in the
/// kubeconfig: the inline token, the token file's contents and an auth provider's stored
/// token. Tokens that exec plugins print are only known once the plugin runs:
/// [`settle_exec_credentials`] checks those.
pub fn check_credentials(auth: &AuthInfo) -> Result<(), BadCredential> {
    let bad = |field: &'static str, problem: String| BadCredential { field, problem };
    if let Some(token) = &auth.token
        && let Some(problem) = header_problem(token.expose_secret())
    {
        return Err(bad("users[].user.token", problem));
    }
    if auth.token.is_none()
        && let Some(path) = &auth.token_file
        && let Ok(contents) = std::fs::read_to_string(path)
        && let Some(problem) = header_problem(contents.trim())
    {
        return Err(bad(
            "users[].user.tokenFile",
            format!("(the file's text) {problem}"),
        ));
    }
    if let Some(provider) = &auth.auth_provider {
        for (key, field) in [
            (
                "access-token",
                "users[].user.auth-provider.config.access-token",
            ),
            ("id-token", "users[].user.auth-provider.config.id-token"),
        ] {
            if let Some(problem) = provider.config.get(key).and_then(|v| header_problem(v)) {
                return Err(bad(field, problem));
            }
        }
    }
    Ok(())
}

/// What an exec credential plugin printed (`ExecCredential`), as far as kubehop checks it.
#[derive(Debug, Default, serde::Deserialize)]
struct ExecOutput {
    status: Option<ExecStatus>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    token: Option<String>,
    expiration_timestamp: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
}

/// Whether kube-rs would take the credentials of `auth` from its exec plugin: no auth
/// provider, basic auth, token or token file comes first (kube-rs's order).
fn uses_exec(auth: &AuthInfo) -> bool {
    auth.auth_provider.is_none()
        && !(auth.username.is_some() && auth.password.is_some())
        && auth.token.is_none()
        && auth.token_file.is_none()
        && auth
            .exec
            .as_ref()
            .is_some_and(|exec| exec.command.is_some())
}

/// Runs the exec credential plugin of `auth` (when kube-rs would use it) and checks the token
/// it prints before kube-rs turns it into a header: kube-rs panics on a token that never
/// expires and is not a valid header value.
///
/// A token without an expiry is what kube-rs would send for ever; it becomes `auth`'s static
/// token, so the plugin runs once. Otherwise (an expiring token, a client certificate) the
/// exec entry stays and kube-rs runs the plugin again and refreshes it itself (a refreshed
/// bad token is an error there, not a panic). A plugin that cannot start, fails or prints
/// something unreadable is also left to kube-rs, which reports it with the plugin's message.
pub async fn settle_exec_credentials(auth: &mut AuthInfo) -> Result<(), BadCredential> {
    if !uses_exec(auth) {
        return Ok(());
    }
    let Some(exec) = &auth.exec else {
        return Ok(());
    };
    let Some(output) = run_exec_plugin(exec).await else {
        return Ok(());
    };
    let Some(status) = output.status else {
        return Ok(());
    };
    let Some(token) = status.token else {
        return Ok(());
    };
    if let Some(problem) = header_problem(&token) {
        return Err(BadCredential {
            field: "users[].user.exec",
            problem: format!("plugin printed a token (status.token) that {problem}"),
        });
    }
    let certificate = status.client_certificate_data.is_some() && status.client_key_data.is_some();
    if status.expiration_timestamp.is_none() && !certificate {
        auth.token = Some(token.into());
        auth.exec = None;
    }
    Ok(())
}

/// Runs the plugin as kube-rs does (arguments, environment, `KUBERNETES_EXEC_INFO`, standard
/// input and error passed through unless `interactiveMode: Never`); its output, if it ran
/// successfully and printed a readable ExecCredential (JSON or YAML).
async fn run_exec_plugin(exec: &kube::config::ExecConfig) -> Option<ExecOutput> {
    use kube::config::ExecInteractiveMode;
    use std::process::Stdio;
    let mut command = tokio::process::Command::new(exec.command.as_ref()?);
    command.args(exec.args.iter().flatten());
    for variable in exec.env.iter().flatten() {
        if let (Some(name), Some(value)) = (variable.get("name"), variable.get("value")) {
            command.env(name, value);
        }
    }
    let interactive = exec.interactive_mode != Some(ExecInteractiveMode::Never);
    if interactive {
        command.stdin(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        command.stdin(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut spec = serde_json::json!({ "interactive": interactive });
    if exec.provide_cluster_info {
        spec["cluster"] = serde_json::to_value(exec.cluster.as_ref()?).ok()?;
    }
    let info = serde_json::json!({
        "apiVersion": exec.api_version,
        "kind": "ExecCredential",
        "spec": spec,
    });
    command.env("KUBERNETES_EXEC_INFO", info.to_string());
    for name in exec.drop_env.iter().flatten() {
        command.env_remove(name);
    }
    command.stdout(Stdio::piped()).kill_on_drop(true);
    let output = command.output().await.ok()?;
    if !output.status.success() {
        return None;
    }
    serde_saphyr::from_slice(&output.stdout).ok()
}

/// Query parameters whose values are secrets.
const SECRET_PARAMETERS: [&str; 5] = ["token", "access_token", "password", "secret", "key"];

/// `text` with the credentials of every URL in it replaced by `***`: the password of
/// `user:password@` (or the whole user part when it has no password: a lone token), and the
/// values of `token`, `access_token`, `password`, `secret` and `key` query parameters.
pub fn redact_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | ','))
            .unwrap_or(rest.len());
        out.push_str(&redact_one(&rest[..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// One URL without its scheme: `userinfo@host/path?query#fragment`.
fn redact_one(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, tail) = url.split_at(authority_end);
    let mut out = String::with_capacity(url.len());
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _password)) => out.push_str(&format!("{user}:***")),
                None => out.push_str("***"),
            }
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let Some(query_start) = tail.find('?') else {
        out.push_str(tail);
        return out;
    };
    out.push_str(&tail[..=query_start]);
    let query = &tail[query_start + 1..];
    let (query, fragment) = query.split_at(query.find('#').unwrap_or(query.len()));
    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((name, _)) if SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=***")
            }
            _ => parameter.to_owned(),
        })
        .collect();
    out.push_str(&parameters.join("&"));
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::config::AuthProviderConfig;
    use rstest::rstest;

    #[rstest]
    #[case::password(
        "cannot reach the API server at https://admin:PW@host:6443 (refused)",
        "cannot reach the API server at https://admin:***@host:6443 (refused)"
    )]
    #[case::lone_token("https://s3cr3t@host/api", "https://***@host/api")]
    #[case::at_in_password("https://a:b@c@host", "https://a:***@host")]
    #[case::query(
        "https://host/x?a=1&token=abc&access_token=def#f",
        "https://host/x?a=1&token=***&access_token=***#f"
    )]
    #[case::two_urls(
        "http://u:p@a and https://v:q@b/",
        "http://u:***@a and https://v:***@b/"
    )]
    #[case::plain("https://127.0.0.1:6443", "https://127.0.0.1:6443")]
    #[case::no_url("no url here: a@b", "no url here: a@b")]
    fn redacts_credentials_in_urls(#[case] text: &str, #[case] expected: &str) {
        assert_eq!(redact_urls(text), expected);
    }

    fn with_token(token: &str) -> AuthInfo {
        AuthInfo {
            token: Some(token.to_owned().into()),
            ..AuthInfo::default()
        }
    }

    #[rstest]
    #[case("tok\nX-Evil: 1", "a line break")]
    #[case("tok\u{7}", "U+0007")]
    #[case("tok\r", "a carriage return")]
    #[case("tok\u{7f}", "U+007F")]
    fn a_token_with_a_control_character_names_the_field(
        #[case] token: &str,
        #[case] problem: &str,
    ) {
        let error = check_credentials(&with_token(token)).expect_err("rejected");
        assert_eq!(error.field, "users[].user.token");
        assert!(error.problem.contains(problem), "{error:?}");
        assert!(!error.problem.contains("tok"), "never the value: {error:?}");
    }

    proptest::proptest! {
        /// What passes the check is a valid header the way kube-rs (tower-http) builds it, so
        /// building the client cannot panic on it.
        #[test]
        fn a_token_that_passes_is_a_valid_bearer_header(token in "\\PC*|.*[\\x00-\\x1f\\x7f].*") {
            let checked = check_credentials(&with_token(&token));
            let header = http::HeaderValue::try_from(format!("Bearer {token}"));
            if checked.is_ok() {
                proptest::prop_assert!(header.is_ok(), "{:?} passed", token);
            }
        }
    }

    #[test]
    fn ordinary_credentials_pass() {
        assert_eq!(check_credentials(&with_token("abc.DEF-123_=")), Ok(()));
        assert_eq!(check_credentials(&AuthInfo::default()), Ok(()));
    }

    #[test]
    fn an_auth_provider_token_is_checked() {
        let auth = AuthInfo {
            auth_provider: Some(AuthProviderConfig {
                name: "gcp".to_owned(),
                config: [("access-token".to_owned(), "x\ny".to_owned())].into(),
                ..AuthProviderConfig::default()
            }),
            ..AuthInfo::default()
        };
        let error = check_credentials(&auth).expect_err("rejected");
        assert_eq!(
            error.field,
            "users[].user.auth-provider.config.access-token"
        );
    }
}
