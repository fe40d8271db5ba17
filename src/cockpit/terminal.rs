//! The terminal loop: draws when something changed, coalesces queued key events into
//! one frame, and always gives the terminal back (normal exit, error, panic, SIGTERM).

use std::process::ExitCode;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::{FutureExt, StreamExt};

use super::engine::{self, Command, StartOptions};
use crate::config::Profile;
use crate::ui::App;
use crate::ui::keymap::Keymap;

/// How often the log tail is checked for new lines (a redraw only if it changed).
const TAIL_CHECK: Duration = Duration::from_millis(100);
/// How long quitting may take (final freeze, worker drain) before we leave anyway.
const QUIT_BUDGET: Duration = Duration::from_secs(20);

pub async fn run(profile: Profile, options: StartOptions) -> anyhow::Result<ExitCode> {
    let keymap = Keymap::from_profile(&profile);
    // Created before the terminal is taken over, so a failure prints as usual.
    let handle = engine::start(profile.clone(), options).map_err(anyhow::Error::msg)?;
    // ratatui::init installs a panic hook that restores the terminal before the message.
    let mut terminal = ratatui::init();
    if profile.mouse {
        capture_mouse();
    }
    let mut last = handle.snapshots.borrow().clone();
    let mut app = App::new(keymap);
    app.theme = profile.theme.resolve_from_process();
    app.theme.apply_to_terminal();
    let result = event_loop(&mut terminal, handle, app, &profile, &mut last).await;
    if profile.mouse {
        release_mouse();
    }
    ratatui::restore();
    // Whatever ended the cockpit, the verdict and the evidence's place are said.
    print!("{}", super::exit_summary::exit_summary(&last));
    result
}

/// Mouse reporting on, and off again before any panic message (ratatui's own hook
/// restores raw mode and the screen, not the mouse: a shell would get escape codes).
fn capture_mouse() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        release_mouse();
        previous(info);
    }));
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
}

fn release_mouse() {
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
}

/// Runs until the cockpit ends; `snapshot` is left at the last one the engine sent.
async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut handle: engine::EngineHandle,
    mut app: App,
    profile: &Profile,
    snapshot: &mut std::sync::Arc<engine::Snapshot>,
) -> anyhow::Result<ExitCode> {
    let mut events = EventStream::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tail_check = tokio::time::interval(TAIL_CHECK);
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut seen_lines = u64::MAX;
    let mut dirty = true;
    let mut quit_deadline: Option<tokio::time::Instant> = None;
    loop {
        if dirty {
            app.now = chrono::Utc::now();
            app.follow_scenario(profile, &snapshot.scenario);
            app.follow_quit_wait(snapshot, app.now);
            let shown = handle.tail_of(app.log_worker);
            let tail = shown
                .lock()
                .map_err(|_| anyhow::anyhow!("log tail lock poisoned"))?;
            seen_lines = tail.total;
            // A pause holds the view at what was last drawn.
            app.log.seen_total = tail.total;
            terminal.draw(|frame| crate::ui::draw::draw(frame, &app, snapshot, &tail))?;
            dirty = false;
        }
        if snapshot.finished || quit_deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Ok(ExitCode::SUCCESS);
        }
        // `w` at the pending question: quit once the checks are decided or time is up.
        if let Some(command) = app.quit_when_decided(snapshot, chrono::Utc::now()) {
            quit_deadline = Some(tokio::time::Instant::now() + QUIT_BUDGET);
            if handle.commands.send(command).await.is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        tokio::select! {
            event = events.next() => {
                let mut pending = vec![event];
                // Coalesce: handle everything already queued, then draw once.
                while let Some(more) = events.next().now_or_never() {
                    pending.push(more);
                }
                for event in pending {
                    match event {
                        Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                            if let Some(command) = app.on_key(key, snapshot) {
                                if matches!(command, Command::Quit { .. }) {
                                    quit_deadline = Some(tokio::time::Instant::now() + QUIT_BUDGET);
                                }
                                if handle.commands.send(command).await.is_err() {
                                    return Ok(ExitCode::SUCCESS);
                                }
                            }
                        }
                        Some(Ok(Event::Mouse(mouse))) => app.on_mouse(mouse, snapshot),
                        Some(Ok(_)) => {}
                        Some(Err(error)) => return Err(anyhow::anyhow!("reading the terminal failed: {error}")),
                        None => return Ok(ExitCode::SUCCESS),
                    }
                }
                dirty = true;
            }
            changed = handle.snapshots.changed() => {
                if changed.is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
                *snapshot = handle.snapshots.borrow_and_update().clone();
                dirty = true;
            }
            _ = tail_check.tick() => {
                let shown = handle.tail_of(app.log_worker);
                let total = shown.lock().map(|t| t.total).unwrap_or(seen_lines);
                dirty |= total != seen_lines;
            }
            _ = clock.tick() => dirty = true,
            _ = terminate.recv() => {
                // SIGTERM: finish like `q` without asking (nobody is there to answer),
                // and give back what the drill took: a stopped ES is started again.
                let _ = handle.commands.send(Command::Quit { start_es: true }).await;
                quit_deadline.get_or_insert(tokio::time::Instant::now() + QUIT_BUDGET);
            }
        }
    }
}
