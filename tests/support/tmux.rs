//! The real binary in a real terminal: `kubehop` run inside tmux (a private server per test),
//! keys sent with `send-keys`, the screen read with `capture-pane`, and everything the program
//! wrote to its terminal (escape sequences included, e.g. OSC 52) kept with `pipe-pane`.
//! Without tmux every test prints a loud SKIP line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::wait::poll_until;

/// How long a screen may take to show what a test waits for (a debug build under load).
pub const SCREEN_DEADLINE: Duration = Duration::from_secs(30);

/// One tmux server with one session running a command; killed when dropped.
pub struct Tmux {
    socket: String,
    session: String,
    /// Where the pane's raw output goes.
    raw: PathBuf,
}

impl Tmux {
    /// Starts `command` (argv) in a `width`×`height` session with `env` set, or `None` (after
    /// a SKIP line) when tmux is not installed.
    pub fn start(
        test: &str,
        size: (u16, u16),
        env: &[(&str, &str)],
        command: &[&str],
        scratch: &Path,
    ) -> Option<Tmux> {
        let works = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|out| out.status.success());
        if !works {
            eprintln!("SKIP {test}: tmux is not installed");
            return None;
        }
        let tmux = Tmux {
            socket: format!("kubehop-{test}-{}", std::process::id()),
            session: "t".to_owned(),
            raw: scratch.join("pane.raw"),
        };
        let (width, height) = (size.0.to_string(), size.1.to_string());
        let mut args: Vec<String> = ["new-session", "-d", "-s", &tmux.session, "-x", &width]
            .iter()
            .map(|arg| (*arg).to_owned())
            .collect();
        args.extend(["-y".to_owned(), height]);
        for (name, value) in env {
            args.extend(["-e".to_owned(), format!("{name}={value}")]);
        }
        // The pane waits for the pipe before the program starts, so no byte is missed.
        let shell = format!(
            "tmux -L {} wait-for piped; exec {}",
            tmux.socket,
            command
                .iter()
                .map(|arg| shell_quote(arg))
                .collect::<Vec<_>>()
                .join(" ")
        );
        args.push(shell);
        tmux.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        // Keep the session's window as large as asked whatever clients attach.
        tmux.ok(&["set-option", "-g", "window-size", "manual"]);
        let pipe = format!("cat >> {}", shell_quote(&tmux.raw.display().to_string()));
        tmux.ok(&["pipe-pane", "-o", "-t", &tmux.session, &pipe]);
        tmux.ok(&["wait-for", "-S", "piped"]);
        Some(tmux)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends keys as tmux names them (`Enter`, `Escape`, `C-a`, or literal text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// The screen as text, one line per row.
    pub fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Waits until the screen satisfies `check`; returns that screen.
    pub fn wait_screen(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        poll_until(what, SCREEN_DEADLINE, || {
            let screen = self.screen();
            if check(&screen) {
                Ok(screen)
            } else {
                Err(format!("the screen:\n{screen}"))
            }
        })
    }

    /// Everything the program wrote to the terminal so far.
    pub fn raw_output(&self) -> Vec<u8> {
        std::fs::read(&self.raw).unwrap_or_default()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// `text` quoted for sh.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
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
