//! The real cockpit binary in a terminal: tmux runs it, `send-keys` types, and
//! `capture-pane` reads the screen.

use std::process::Command;
use std::time::{Duration, Instant};

/// One tmux server per test (its own socket, `-L`): tests that start and end sessions
/// at the same moment on one shared server race its start and shutdown ("no server
/// running", a session that vanishes).
pub struct Tmux {
    session: String,
}

impl Tmux {
    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.session]);
        command
    }
}

impl Tmux {
    pub fn start(env: &[(String, String)], args: &[String]) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            return testkit::env::unavailable(
                "tmux",
                "install it (apt-get install tmux); scripts/test does",
            );
        }
        let session = format!("drill{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let binary = env!("CARGO_BIN_EXE_drill-cockpit");
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        // The pane outlives the program so its exit code can be read.
        let script = format!("{binary} {}; echo EXIT=$?; sleep 30", quoted.join(" "));
        let tmux = Tmux { session };
        let mut command = tmux.command();
        command.args([
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            "200",
            "-y",
            "60",
        ]);
        for (key, value) in env {
            command.args(["-e", &format!("{key}={value}")]);
        }
        let status = command.arg(script).status().expect("tmux runs");
        assert!(status.success());
        Some(tmux)
    }

    pub fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The screen with its attributes as escape sequences (`capture-pane -e`).
    pub fn screen_with_escapes(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-e", "-t", &self.session])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn keys(&self, keys: &str) {
        self.command()
            .args(["send-keys", "-t", &self.session, keys])
            .status()
            .expect("send-keys");
    }

    /// Waits until the screen satisfies `check`; fails with the screen otherwise.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Tmux {
    /// `q`, then `answer` when the cockpit asks about pending checks (`w` waits for
    /// them, `q` quits anyway); waits for the clean exit. Returns whether it asked and
    /// the screen after the exit (what the cockpit printed once the terminal was back).
    pub async fn quit_answering(&self, answer: &str) -> (bool, String) {
        self.keys("q");
        let screen = self
            .wait_for(
                "the pending question or the exit",
                Duration::from_secs(30),
                |s| s.contains("check(s) still pending") || s.contains("EXIT="),
            )
            .await;
        let asked = !screen.contains("EXIT=");
        if asked {
            self.keys(answer);
        }
        if asked && answer == "w" {
            self.wait_for("the countdown", Duration::from_secs(10), |s| {
                s.contains("quitting once decided, at the latest in") || s.contains("EXIT=")
            })
            .await;
        }
        // A wait is at most a minute; the final freeze and the worker's drain follow.
        let screen = self
            .wait_for("a clean exit", Duration::from_secs(100), |s| {
                s.contains("EXIT=0")
            })
            .await;
        (asked, screen)
    }

    /// Quits as `q` did before it asked about pending checks: at once.
    pub async fn quit_anyway(&self) -> String {
        self.quit_answering("q").await.1
    }

    /// Quits once the pending checks are decided (`w` at the question).
    pub async fn quit_waiting(&self) -> (bool, String) {
        self.quit_answering("w").await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

pub fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}
