//! The terminal UI: [`App`] holds what only the UI knows (focus, scroll, filter,
//! overlays); [`App::on_key`] is the one update; `draw` only reads. Nothing here does IO.

pub mod draw;
pub mod keymap;
pub mod log_view;
mod panes;
pub mod quit;
pub mod theme;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

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
    /// The key list, scrolled by `scroll` lines (it is longer than a small terminal).
    Help {
        scroll: usize,
    },
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
    /// at the wait's end at the latest (which follows the event: [`quit::QuitWait`]).
    pub quit_wait: Option<quit::QuitWait>,
    pub warnings: Vec<String>,
    /// What the last key could not do, said in the status bar until the next key.
    pub notice: Option<String>,
    /// Where each pane was last drawn (set by drawing; read by the mouse).
    pub pane_areas: std::cell::RefCell<Vec<(Pane, ratatui::layout::Rect)>>,
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
            notice: None,
            pane_areas: Default::default(),
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
        self.notice = None;
        let ctrl_c =
            event.code == KeyCode::Char('c') && event.modifiers.contains(KeyModifiers::CONTROL);
        match self.overlay.clone() {
            Overlay::FilterInput(text) => {
                match edit_line(text, &event, usize::MAX) {
                    LineEdit::Typing(text) => self.overlay = Overlay::FilterInput(text),
                    LineEdit::Done(text) => {
                        self.log.set_filter(&text);
                        self.overlay = Overlay::None;
                    }
                    LineEdit::Cancel => self.overlay = Overlay::None,
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
            Overlay::Help { scroll } => {
                // Scroll keys scroll (the list is longer than 80×24); any other closes.
                self.overlay = match navigation(&event) {
                    Some(action) => Overlay::Help {
                        scroll: scrolled(scroll, action, self.keymap.bindings.len()),
                    },
                    None => Overlay::None,
                };
                return None;
            }
            Overlay::MarkerInput(text) => {
                // One line, bounded: a marker is a note, not a document.
                match edit_line(text, &event, 200) {
                    LineEdit::Typing(text) => self.overlay = Overlay::MarkerInput(text),
                    LineEdit::Done(text) => {
                        self.overlay = Overlay::None;
                        let note = text.trim().to_string();
                        return (!note.is_empty()).then_some(Command::Marker(note));
                    }
                    LineEdit::Cancel => self.overlay = Overlay::None,
                }
                return None;
            }
            Overlay::Picker { selected } => {
                let drills = crate::drill::scenario::all();
                let last = drills.len() - 1;
                self.overlay = match (event.code, navigation(&event)) {
                    (KeyCode::Enter, _) => {
                        self.overlay = Overlay::None;
                        let chosen = drills[selected.min(last)].id;
                        return (chosen != snapshot.scenario)
                            .then_some(Command::SwitchScenario(chosen));
                    }
                    (_, Some(action)) => Overlay::Picker {
                        selected: step(selected, action, drills.len()),
                    },
                    // The README's letters: `c` (or `C`) moves to drill C; Enter starts it.
                    (KeyCode::Char(letter), None) => match picker_index(letter) {
                        Some(index) => Overlay::Picker { selected: index },
                        None => Overlay::None,
                    },
                    _ => Overlay::None,
                };
                return None;
            }
            Overlay::SpanTree { scroll } => {
                self.overlay = match navigation(&event) {
                    Some(action) => Overlay::SpanTree {
                        scroll: scrolled(scroll, action, usize::MAX / 2),
                    },
                    None => Overlay::None,
                };
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
                let current = crate::drill::scenario::all()
                    .iter()
                    .position(|d| d.id == snapshot.scenario)
                    .unwrap_or(0);
                self.overlay = Overlay::Picker { selected: current };
            }
            Action::Marker => self.overlay = Overlay::MarkerInput(String::new()),
            Action::SwitchLog => {
                self.log_worker = next_log_worker(self.log_worker, snapshot);
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
            Action::Help => self.overlay = Overlay::Help { scroll: 0 },
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
            Action::Open if self.focus == Pane::Log => self.open_logged_trace(snapshot),
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

    /// The mouse: a click focuses the pane under it (and closes an overlay clicked
    /// outside of); the wheel scrolls the pane under it, or the open overlay.
    pub fn on_mouse(&mut self, event: MouseEvent, snapshot: &Snapshot) {
        let scroll = match event.kind {
            MouseEventKind::ScrollUp => Some(KeyCode::Up),
            MouseEventKind::ScrollDown => Some(KeyCode::Down),
            MouseEventKind::Down(MouseButton::Left) => None,
            _ => return,
        };
        let under = self
            .pane_areas
            .borrow()
            .iter()
            .find(|(_, area)| {
                area.contains(ratatui::layout::Position::new(event.column, event.row))
            })
            .map(|(pane, _)| *pane);
        let overlay_open = self.overlay != Overlay::None;
        match scroll {
            // An overlay takes the wheel as its arrows (help, span tree, picker).
            Some(code) if overlay_open => {
                if matches!(
                    self.overlay,
                    Overlay::Help { .. } | Overlay::SpanTree { .. } | Overlay::Picker { .. }
                ) {
                    self.on_key(KeyEvent::new(code, KeyModifiers::NONE), snapshot);
                }
            }
            Some(code) => {
                if let Some(pane) = under.filter(|p| FOCUS_ORDER.contains(p)) {
                    self.focus = pane;
                }
                // Three lines a notch, as terminals scroll.
                for _ in 0..3 {
                    self.on_key(KeyEvent::new(code, KeyModifiers::NONE), snapshot);
                }
            }
            None if overlay_open => {
                // A prompt or a question is answered with keys; other overlays close.
                if matches!(
                    self.overlay,
                    Overlay::Help { .. } | Overlay::SpanTree { .. } | Overlay::Picker { .. }
                ) {
                    self.overlay = Overlay::None;
                }
            }
            None => {
                if let Some(pane) = under.filter(|p| FOCUS_ORDER.contains(p)) {
                    self.focus = pane;
                }
            }
        }
    }

    /// Enter in the log: the span tree of the trace the underlined line names, when
    /// it is one of the drill's traces; else the status bar says why not.
    fn open_logged_trace(&mut self, snapshot: &Snapshot) {
        let Some(id) = self.log.drawn_trace.borrow().clone() else {
            self.notice = Some("no line on screen names a trace (trace_id)".into());
            return;
        };
        match panes::traces::list(snapshot)
            .iter()
            .position(|trace| trace.trace_id.eq_ignore_ascii_case(&id))
        {
            Some(index) => {
                self.focus = Pane::Traces;
                self.trace_selected = index;
                self.overlay = Overlay::SpanTree { scroll: 0 };
            }
            None => {
                self.notice = Some(format!(
                    "trace {} is not among the event's and the batch's traces loaded from Jaeger (yet)",
                    &id[..8]
                ))
            }
        }
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
                self.quit_wait = Some(quit::QuitWait::begin(snapshot, self.now));
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
        self.follow_quit_wait(snapshot, now);
        let wait = self.quit_wait?;
        let decided = quit::pending_titles(snapshot).is_empty();
        (decided || now >= wait.until)
            .then(|| self.quit(false))
            .flatten()
    }

    /// Moves the waited quit's end with the latest read of the event (drawn with it).
    pub fn follow_quit_wait(&mut self, snapshot: &Snapshot, now: chrono::DateTime<chrono::Utc>) {
        self.quit_wait = self.quit_wait.map(|wait| wait.follow(snapshot, now));
    }

    fn quit(&mut self, start_es: bool) -> Option<Command> {
        self.quitting = true;
        self.quit_wait = None;
        Some(Command::Quit { start_es })
    }
}

/// What typing a key does to a one-line input: readline's keys (Ctrl-U clears,
/// Ctrl-W deletes a word, Ctrl-H is Backspace), no control key ever typed as a letter.
enum LineEdit {
    Typing(String),
    Done(String),
    Cancel,
}

fn edit_line(mut text: String, event: &KeyEvent, max_chars: usize) -> LineEdit {
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    match event.code {
        KeyCode::Enter => return LineEdit::Done(text),
        KeyCode::Esc => return LineEdit::Cancel,
        KeyCode::Char('c') if ctrl => return LineEdit::Cancel,
        KeyCode::Char('u') if ctrl => text.clear(),
        KeyCode::Char('w') if ctrl => {
            let kept = text.trim_end().len();
            text.truncate(kept);
            let word_start = text.rfind(char::is_whitespace).map_or(0, |at| at + 1);
            text.truncate(word_start);
        }
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char('h') if ctrl => {
            text.pop();
        }
        KeyCode::Char(_) if ctrl => {}
        KeyCode::Char(c) if text.chars().count() < max_chars => text.push(c),
        _ => {}
    }
    LineEdit::Typing(text)
}

/// The scroll keys inside an overlay: arrows, pages, Home/End and vi's j/k/g/G.
fn navigation(event: &KeyEvent) -> Option<Action> {
    if event.modifiers.contains(KeyModifiers::CONTROL) {
        return None;
    }
    Some(match event.code {
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        _ => return None,
    })
}

/// A scroll offset moved by `action`, within `0..=last` (drawing clamps it further).
fn scrolled(offset: usize, action: Action, last: usize) -> usize {
    match action {
        Action::Up => offset.saturating_sub(1),
        Action::Down => (offset + 1).min(last),
        Action::PageUp => offset.saturating_sub(10),
        Action::PageDown => (offset + 10).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => offset,
    }
}

/// The traces the Traces pane lists (the event's, then the batch's), in its order.
pub fn traces_list(snapshot: &Snapshot) -> Vec<&crate::jaeger::TraceSummary> {
    panes::traces::list(snapshot)
}

/// The picker's letter for the drill at `index` (A for the first), as the README names them.
pub fn picker_letter(index: usize) -> char {
    (b'A' + index as u8) as char
}

fn picker_index(letter: char) -> Option<usize> {
    let index = (letter.to_ascii_uppercase() as usize).checked_sub('A' as usize)?;
    (index < crate::drill::scenario::all().len()).then_some(index)
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

/// The worker whose log the log pane shows after `current`: worker 1, worker 2 (when
/// the drill has one), then each replica of the fleet, and round again.
fn next_log_worker(current: u8, snapshot: &Snapshot) -> u8 {
    let two = snapshot.worker2.is_some()
        || crate::drill::scenario::find(&snapshot.scenario).is_ok_and(|d| d.worker_count() == 2);
    let mut workers: Vec<u8> = vec![1];
    if two {
        workers.push(2);
    }
    workers.extend(snapshot.replicas.iter().map(|r| r.0 as u8));
    workers.dedup();
    match workers.iter().position(|&n| n == current) {
        Some(at) => workers[(at + 1) % workers.len()],
        None => 1,
    }
}

#[cfg(test)]
mod fleet_log_tests {
    use super::*;
    use crate::sources::worker_proc::WorkerState;

    #[test]
    fn the_log_key_goes_round_every_worker_of_the_fleet() {
        let mut snapshot = Snapshot {
            scenario: "es_down_connect".into(),
            ..Snapshot::default()
        };
        // One worker: the key stays on worker 1.
        assert_eq!(next_log_worker(1, &snapshot), 1);
        let replica = |n: usize| {
            (
                n,
                format!("w-{n}"),
                9000 + n as u16,
                WorkerState::Running { pid: 1 },
            )
        };
        snapshot.replicas = vec![replica(2), replica(3)];
        assert_eq!(next_log_worker(1, &snapshot), 2);
        assert_eq!(next_log_worker(2, &snapshot), 3);
        assert_eq!(next_log_worker(3, &snapshot), 1);
        // E: worker 2 is the drill's own, the replicas come after it.
        snapshot.scenario = "db_claim_contention".into();
        snapshot.replicas = vec![replica(3)];
        assert_eq!(next_log_worker(1, &snapshot), 2);
        assert_eq!(next_log_worker(2, &snapshot), 3);
        // A worker that is gone (another drill now): back to worker 1.
        assert_eq!(next_log_worker(7, &snapshot), 1);
    }
}
