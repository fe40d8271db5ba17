//! The terminal UI: [`App`] holds what only the UI knows (focus, scroll, filter,
//! overlays); [`App::on_key`] is the one update; `draw` only reads. Nothing here does IO.

pub mod draw;
pub mod keymap;
pub mod log_view;
mod panes;
pub mod quit;
pub mod theme;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::cockpit::engine::{Command, Snapshot};
use crate::db::outbox::Op;
use keymap::{Action, Keymap};
use log_view::LogView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Containers,
    Counters,
    Checklist,
    Log,
    Traces,
    Outbox,
    /// The fault gates (not in the focus cycle: nothing in it scrolls).
    Faults,
    /// The timeline strip (not in the focus cycle either).
    Timeline,
}

const FOCUS_ORDER: [Pane; 6] = [
    Pane::Log,
    Pane::Traces,
    Pane::Outbox,
    Pane::Containers,
    Pane::Counters,
    Pane::Checklist,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    StopEs,
    KillWorker,
    QuitWithEsStopped,
    /// `q` while checks are pending: wait for them, quit anyway, or stay.
    QuitWithPendingChecks,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Confirm(Confirm),
    /// The span tree of the selected trace.
    SpanTree {
        scroll: usize,
    },
    /// Typing a log filter.
    FilterInput(String),
    /// Choosing another drill.
    Picker {
        selected: usize,
    },
    /// Typing a marker's note.
    MarkerInput(String),
}

pub struct App {
    pub keymap: Keymap,
    /// The drill the keymap was made for (it is remade when the drill changes).
    pub scenario: String,
    /// Whose log the log pane shows: worker 1 or worker 2.
    pub log_worker: u8,
    /// The focused pane fills the screen (`z`).
    pub zoomed: bool,
    pub focus: Pane,
    pub overlay: Overlay,
    pub log: LogView,
    pub trace_selected: usize,
    pub outbox_selected: usize,
    /// The clock the panes use for ages and uptimes (fixed in tests).
    pub now: chrono::DateTime<chrono::Utc>,
    pub quitting: bool,
    /// `w` at the pending question: the cockpit quits once the checks are decided, or
    /// at this instant at the latest.
    pub quit_wait: Option<chrono::DateTime<chrono::Utc>>,
    pub warnings: Vec<String>,
    /// Colours or monochrome (`--theme`, `cockpit.theme`, `NO_COLOR`).
    pub theme: theme::Theme,
}

impl App {
    pub fn new(keymap: Keymap) -> App {
        let warnings = keymap.conflicts();
        App {
            keymap,
            scenario: String::new(),
            log_worker: 1,
            zoomed: false,
            focus: Pane::Log,
            overlay: Overlay::None,
            log: LogView::default(),
            trace_selected: 0,
            outbox_selected: 0,
            now: chrono::Utc::now(),
            quitting: false,
            quit_wait: None,
            warnings,
            theme: theme::Theme::default(),
        }
    }

    /// Remakes the keys when the engine runs another drill than the keymap's.
    pub fn follow_scenario(&mut self, profile: &crate::config::Profile, scenario: &str) {
        if self.scenario == scenario {
            return;
        }
        if let Ok(drill) = crate::drill::scenario::find(scenario) {
            self.keymap = Keymap::for_drill(profile, drill);
            self.warnings = self.keymap.conflicts();
            self.log_worker = 1;
        }
        self.scenario = scenario.to_string();
    }

    /// One key, one state change; returns the command for the engine, if any.
    pub fn on_key(&mut self, event: KeyEvent, snapshot: &Snapshot) -> Option<Command> {
        let ctrl_c =
            event.code == KeyCode::Char('c') && event.modifiers.contains(KeyModifiers::CONTROL);
        match self.overlay.clone() {
            Overlay::FilterInput(mut text) => {
                match event.code {
                    KeyCode::Enter => {
                        self.log.set_filter(&text);
                        self.overlay = Overlay::None;
                    }
                    KeyCode::Esc => self.overlay = Overlay::None,
                    KeyCode::Backspace => {
                        text.pop();
                        self.overlay = Overlay::FilterInput(text);
                    }
                    KeyCode::Char(c) if !ctrl_c => {
                        text.push(c);
                        self.overlay = Overlay::FilterInput(text);
                    }
                    _ if ctrl_c => self.overlay = Overlay::None,
                    _ => {}
                }
                return None;
            }
            Overlay::Confirm(Confirm::QuitWithPendingChecks) => {
                return self.answer_pending_question(event.code, snapshot);
            }
            Overlay::Confirm(kind) => {
                let yes = matches!(
                    event.code,
                    KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
                );
                let no = matches!(event.code, KeyCode::Char('n') | KeyCode::Char('N'));
                self.overlay = Overlay::None;
                return match (kind, yes, no) {
                    (Confirm::StopEs, true, _) => Some(Command::StopEs),
                    (Confirm::KillWorker, true, _) => Some(Command::KillWorker),
                    (Confirm::QuitWithEsStopped, true, _) => self.start_es_then_quit(snapshot),
                    (Confirm::QuitWithEsStopped, _, true) => self.quit(false),
                    _ => None,
                };
            }
            Overlay::Help => {
                self.overlay = Overlay::None;
                return None;
            }
            Overlay::MarkerInput(mut text) => {
                match event.code {
                    KeyCode::Enter => {
                        self.overlay = Overlay::None;
                        let note = text.trim().to_string();
                        return (!note.is_empty()).then_some(Command::Marker(note));
                    }
                    KeyCode::Esc => self.overlay = Overlay::None,
                    KeyCode::Backspace => {
                        text.pop();
                        self.overlay = Overlay::MarkerInput(text);
                    }
                    // One line, bounded: a marker is a note, not a document.
                    KeyCode::Char(c) if !ctrl_c && text.chars().count() < 200 => {
                        text.push(c);
                        self.overlay = Overlay::MarkerInput(text);
                    }
                    _ if ctrl_c => self.overlay = Overlay::None,
                    _ => {}
                }
                return None;
            }
            Overlay::Picker { selected } => {
                let last = crate::drill::scenario::RUNNABLE.len() - 1;
                self.overlay = match event.code {
                    KeyCode::Up => Overlay::Picker {
                        selected: selected.saturating_sub(1),
                    },
                    KeyCode::Down => Overlay::Picker {
                        selected: (selected + 1).min(last),
                    },
                    KeyCode::Enter => {
                        self.overlay = Overlay::None;
                        let chosen = crate::drill::scenario::RUNNABLE[selected.min(last)].id;
                        return (chosen != snapshot.scenario)
                            .then_some(Command::SwitchScenario(chosen));
                    }
                    _ => Overlay::None,
                };
                return None;
            }
            Overlay::SpanTree { scroll } => {
                match event.code {
                    KeyCode::Up => {
                        self.overlay = Overlay::SpanTree {
                            scroll: scroll.saturating_sub(1),
                        }
                    }
                    KeyCode::Down => self.overlay = Overlay::SpanTree { scroll: scroll + 1 },
                    KeyCode::PageUp => {
                        self.overlay = Overlay::SpanTree {
                            scroll: scroll.saturating_sub(10),
                        }
                    }
                    KeyCode::PageDown => {
                        self.overlay = Overlay::SpanTree {
                            scroll: scroll + 10,
                        }
                    }
                    _ => self.overlay = Overlay::None,
                }
                return None;
            }
            Overlay::None => {}
        }
        if ctrl_c {
            return self.request_quit(snapshot);
        }
        if self.quit_wait.is_some() && event.code == KeyCode::Esc {
            self.quit_wait = None;
            return None;
        }
        let action = self.keymap.action_for(&event)?;
        match action {
            Action::StopEs => self.overlay = Overlay::Confirm(Confirm::StopEs),
            Action::StartEs => return Some(Command::StartEs),
            Action::InsertDelete => return Some(Command::Insert(Op::Delete)),
            Action::InsertUpsert => return Some(Command::Insert(Op::Upsert)),
            Action::Freeze => return Some(Command::Freeze),
            Action::ToggleWorker => return Some(Command::ToggleWorker),
            Action::KillWorker => self.overlay = Overlay::Confirm(Confirm::KillWorker),
            Action::ComposeUp => return Some(Command::ComposeUp),
            Action::FaultIn => return Some(Command::FaultIn),
            Action::FaultOut => return Some(Command::FaultOut),
            Action::InsertNext => return Some(Command::InsertNext),
            Action::PickScenario => {
                let current = crate::drill::scenario::RUNNABLE
                    .iter()
                    .position(|d| d.id == snapshot.scenario)
                    .unwrap_or(0);
                self.overlay = Overlay::Picker { selected: current };
            }
            Action::Marker => self.overlay = Overlay::MarkerInput(String::new()),
            Action::SwitchLog => {
                self.log_worker = if self.log_worker == 1 { 2 } else { 1 };
                self.log = LogView::default();
            }
            Action::FocusNext => {
                let index = FOCUS_ORDER
                    .iter()
                    .position(|p| *p == self.focus)
                    .unwrap_or(0);
                self.focus = FOCUS_ORDER[(index + 1) % FOCUS_ORDER.len()];
            }
            Action::Filter => {
                self.focus = Pane::Log;
                self.overlay = Overlay::FilterInput(self.log.filter.clone());
            }
            Action::Help => self.overlay = Overlay::Help,
            Action::Quit => return self.request_quit(snapshot),
            Action::Close => self.log.set_filter(""),
            Action::ToggleFollow => self.log.toggle_follow(),
            Action::ToggleWrap => self.log.wrap = !self.log.wrap,
            Action::Zoom => self.zoomed = !self.zoomed,
            Action::ToggleFold => self.log.fold = !self.log.fold,
            Action::NextMatch => self.log.next_match(),
            Action::Open if self.focus == Pane::Traces && panes::traces::count(snapshot) > 0 => {
                self.overlay = Overlay::SpanTree { scroll: 0 };
            }
            Action::Open => {}
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => self.navigate(action, snapshot),
        }
        None
    }

    fn navigate(&mut self, action: Action, snapshot: &Snapshot) {
        match self.focus {
            Pane::Log => self.log.scroll(action),
            Pane::Traces => {
                let count = panes::traces::count(snapshot);
                self.trace_selected = step(self.trace_selected, action, count);
            }
            Pane::Outbox => {
                let count = match &snapshot.outbox {
                    Some(Ok((_, rows))) => rows.len(),
                    _ => 0,
                };
                self.outbox_selected = step(self.outbox_selected, action, count);
            }
            _ => {}
        }
    }

    /// `q`: one question at a time — a stopped ES first, then pending checks. While
    /// the waited quit runs, `q` quits at once.
    fn request_quit(&mut self, snapshot: &Snapshot) -> Option<Command> {
        if snapshot.es_stopped {
            self.overlay = Overlay::Confirm(Confirm::QuitWithEsStopped);
            None
        } else {
            self.ask_about_pending_or_quit(snapshot)
        }
    }

    fn ask_about_pending_or_quit(&mut self, snapshot: &Snapshot) -> Option<Command> {
        if self.quit_wait.is_none() && !quit::pending_titles(snapshot).is_empty() {
            self.overlay = Overlay::Confirm(Confirm::QuitWithPendingChecks);
            None
        } else {
            self.quit(false)
        }
    }

    /// `y` to "start ES before quitting?": with checks pending, ES is started and the
    /// pending question follows (the started ES is what lets them pass); else quit.
    fn start_es_then_quit(&mut self, snapshot: &Snapshot) -> Option<Command> {
        if quit::pending_titles(snapshot).is_empty() {
            return self.quit(true);
        }
        self.overlay = Overlay::Confirm(Confirm::QuitWithPendingChecks);
        Some(Command::StartEs)
    }

    fn answer_pending_question(&mut self, key: KeyCode, snapshot: &Snapshot) -> Option<Command> {
        self.overlay = Overlay::None;
        match key {
            KeyCode::Char('w') | KeyCode::Char('W') => {
                self.quit_wait = Some(quit::wait_until(snapshot, self.now));
                None
            }
            KeyCode::Char('q') | KeyCode::Char('Q') => self.quit(false),
            _ => None,
        }
    }

    /// The waited quit: once no check is pending, or its time is up.
    pub fn quit_when_decided(
        &mut self,
        snapshot: &Snapshot,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Command> {
        let until = self.quit_wait?;
        let decided = quit::pending_titles(snapshot).is_empty();
        (decided || now >= until)
            .then(|| self.quit(false))
            .flatten()
    }

    fn quit(&mut self, start_es: bool) -> Option<Command> {
        self.quitting = true;
        self.quit_wait = None;
        Some(Command::Quit { start_es })
    }
}

fn step(current: usize, action: Action, count: usize) -> usize {
    if count == 0 {
        return 0;
    }
    let last = count - 1;
    match action {
        Action::Up => current.saturating_sub(1),
        Action::Down => (current + 1).min(last),
        Action::PageUp => current.saturating_sub(10),
        Action::PageDown => (current + 10).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => current.min(last),
    }
}
