//! The real binary in a real terminal emulator: tmux (a private server per test, no user
//! configuration), keys sent with `send-keys`, the screen read with `capture-pane`, the
//! pane's modes with `display-message`, and, when asked, everything the program wrote to its
//! terminal (escape sequences included, e.g. OSC 52) kept with `pipe-pane`.
//!
//! Why tmux: it is a complete terminal emulator that reports the pane's modes and its screen,
//! without adding a pty and a VT parser crate to the build. CI machines have it (Debian:
//! `apt-get install tmux`). Every wait has a deadline and watches the screen.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::wait::{DEADLINE, poll_until};

/// One tmux server with one session (`e2e`); the server is killed when this is dropped.
pub struct Tmux {
    socket: String,
    /// Where the pane's raw output goes ([`Tmux::piped`]).
    raw: Option<PathBuf>,
}

impl Tmux {
    /// A server of its own for test `name` (nothing runs until a session starts).
    pub fn new(name: &str) -> Tmux {
        Tmux {
            socket: format!("kubehop-{name}-{}", std::process::id()),
            raw: None,
        }
    }

    /// Whether tmux is installed.
    pub fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|out| out.status.success())
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs (install it: apt-get install tmux)")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts session `e2e`, `width` x `height`, running `script` with `sh -c`.
    pub fn session(&self, width: u16, height: u16, script: &str) {
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "sh",
            "-c",
            script,
        ]);
    }

    /// Starts `command` (argv) in session `e2e` with `env` set, its terminal output kept in
    /// `scratch/pane.raw` from its first byte ([`Tmux::raw_output`]).
    pub fn piped(
        &mut self,
        size: (u16, u16),
        env: &[(&str, &str)],
        command: &[&str],
        scratch: &Path,
    ) {
        let raw = scratch.join("pane.raw");
        let mut script = String::new();
        for (name, value) in env {
            script.push_str(&format!("export {name}={}; ", shell_quote(value)));
        }
        // The program starts once the pipe is in place, so no byte is missed.
        script.push_str(&format!(
            "tmux -L {} wait-for piped; exec {}",
            self.socket,
            command
                .iter()
                .map(|arg| shell_quote(arg))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        self.session(size.0, size.1, &script);
        let pipe = format!("cat >> {}", shell_quote(&raw.display().to_string()));
        self.ok(&["pipe-pane", "-o", "-t", "e2e", &pipe]);
        self.ok(&["wait-for", "-S", "piped"]);
        self.raw = Some(raw);
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    /// A tmux format about the pane (`#{alternate_on}`, `#{cursor_flag}`, ...).
    pub fn format(&self, format: &str) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["display-message", "-p", "-t", "e2e", format])
                .stdout,
        )
        .trim()
        .to_owned()
    }

    /// Sends keys as tmux names them (`Enter`, `Escape`, `C-a`, or literal text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Waits until the screen satisfies `condition` (polling: a terminal has no notification
    /// to wait on), up to the deadline. Returns the screen.
    pub fn wait_until(&self, what: &str, condition: impl Fn(&str) -> bool) -> String {
        poll_until(what, DEADLINE, || {
            let screen = self.screen();
            if condition(&screen) {
                Ok(screen)
            } else {
                Err(format!("the screen is:\n{screen}"))
            }
        })
    }

    /// Everything the program of a [`Tmux::piped`] session wrote to its terminal so far.
    pub fn raw_output(&self) -> Vec<u8> {
        self.raw
            .as_ref()
            .and_then(|raw| std::fs::read(raw).ok())
            .unwrap_or_default()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// `text` quoted for sh.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The texts copied with OSC 52 (`ESC ] 52 ; c ; BASE64 BEL|ST`) in a terminal's output.
pub fn osc52_copies(raw: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(raw);
    text.split("\x1b]52;")
        .skip(1)
        .filter_map(|rest| {
            let (_, payload) = rest.split_once(';')?;
            let end = payload.find(['\x07', '\x1b'])?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&payload[..end])
                .ok()?;
            String::from_utf8(decoded).ok()
        })
        .collect()
}
