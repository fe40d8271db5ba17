//! `drill-cockpit replay <run_dir>`: any run — ours, or another tool's as far as its
//! files go — played back in the cockpit's own panes, read-only. Space plays and
//! pauses, ←/→ step to the previous/next moment of the story, `+`/`-` change the speed,
//! a cursor runs along the timeline strip. Nothing is written, nothing is connected.

pub mod recording;

use std::process::ExitCode;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind};
use futures::StreamExt;

use crate::ui::App;
use crate::ui::keymap::Keymap;
use recording::Recording;

/// How often the playback advances (and redraws when playing).
const TICK: Duration = Duration::from_millis(50);

pub struct ReplayOptions {
    /// Drill seconds per wall second.
    pub speed: f64,
    pub paused: bool,
    /// Colours or monochrome.
    pub theme: crate::ui::theme::Theme,
}

/// Where the playback stands.
struct Playback {
    at: f64,
    speed: f64,
    playing: bool,
}

impl Playback {
    fn status(&self, recording: &Recording) -> String {
        let skipped = match recording.problems.len() {
            0 => String::new(),
            n => format!(" · {n} evidence problem(s), listed on exit"),
        };
        format!(
            "REPLAY {:.1}/{:.1} s · {}× · {}{skipped} — space play/pause · ←/→ previous/next moment · +/- speed · q quit",
            self.at,
            recording.duration,
            self.speed,
            if self.at >= recording.duration {
                "end of run"
            } else if self.playing {
                "playing"
            } else {
                "paused"
            }
        )
    }

    /// A key; `false` to leave.
    fn on_key(&mut self, code: KeyCode, moments: &[f64], duration: f64) -> bool {
        match code {
            KeyCode::Char('q') | KeyCode::Esc => return false,
            KeyCode::Char(' ') => {
                if self.at >= duration {
                    self.at = 0.0;
                }
                self.playing = !self.playing;
            }
            KeyCode::Right => {
                self.at = moments
                    .iter()
                    .copied()
                    .find(|t| *t > self.at + 1e-3)
                    .unwrap_or(duration);
            }
            KeyCode::Left => {
                self.at = moments
                    .iter()
                    .copied()
                    .rev()
                    .find(|t| *t < self.at - 1e-3)
                    .unwrap_or(0.0);
            }
            KeyCode::Char('+') => self.speed = (self.speed * 2.0).min(960.0),
            KeyCode::Char('-') => self.speed = (self.speed / 2.0).max(0.25),
            _ => {}
        }
        true
    }
}

pub async fn run(dir: &std::path::Path, options: ReplayOptions) -> anyhow::Result<ExitCode> {
    // Read before the terminal is taken over, so a bad directory prints as usual.
    let recording = Recording::load(dir).map_err(anyhow::Error::msg)?;
    let moments = recording.moment_times();
    // The drill's own keys do nothing here: the status bar shows the replay's.
    let mut app = App::new(Keymap {
        bindings: Vec::new(),
    });
    app.theme = options.theme;
    app.theme.apply_to_terminal();
    let mut playback = Playback {
        at: 0.0,
        speed: options.speed.clamp(0.25, 960.0),
        playing: !options.paused,
    };
    let mut terminal = ratatui::init();
    let result = async {
        let mut events = EventStream::new();
        let mut tick = tokio::time::interval(TICK);
        let mut dirty = true;
        loop {
            if dirty {
                app.now = recording.clock_at(playback.at);
                let (mut snapshot, tail) = recording.at(playback.at);
                snapshot.status = Some((playback.status(&recording), false));
                terminal.draw(|frame| crate::ui::draw::draw(frame, &app, &snapshot, &tail))?;
                dirty = false;
            }
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                        if !playback.on_key(key.code, &moments, recording.duration) {
                            return Ok(ExitCode::SUCCESS);
                        }
                        dirty = true;
                    }
                    Some(Ok(_)) => dirty = true,
                    Some(Err(error)) => return Err(anyhow::anyhow!("reading the terminal failed: {error}")),
                    None => return Ok(ExitCode::SUCCESS),
                },
                _ = tick.tick() => {
                    if playback.playing {
                        playback.at = (playback.at + TICK.as_secs_f64() * playback.speed)
                            .min(recording.duration);
                        if playback.at >= recording.duration {
                            playback.playing = false;
                        }
                        dirty = true;
                    }
                }
            }
        }
    }
    .await;
    ratatui::restore();
    for problem in &recording.problems {
        eprintln!("warning: {}", crate::sanitize::one_line(problem, 300));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_step_between_moments_and_change_speed() {
        let mut playback = Playback {
            at: 0.0,
            speed: 1.0,
            playing: true,
        };
        let moments = [2.0, 5.0, 9.0];
        assert!(playback.on_key(KeyCode::Right, &moments, 12.0));
        assert_eq!(playback.at, 2.0);
        playback.on_key(KeyCode::Right, &moments, 12.0);
        playback.on_key(KeyCode::Right, &moments, 12.0);
        playback.on_key(KeyCode::Right, &moments, 12.0);
        assert_eq!(playback.at, 12.0);
        playback.on_key(KeyCode::Left, &moments, 12.0);
        assert_eq!(playback.at, 9.0);
        playback.on_key(KeyCode::Char('+'), &moments, 12.0);
        assert_eq!(playback.speed, 2.0);
        playback.on_key(KeyCode::Char(' '), &moments, 12.0);
        assert!(!playback.playing);
        assert!(!playback.on_key(KeyCode::Char('q'), &moments, 12.0));
    }
}
