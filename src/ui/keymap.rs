//! The one list of key bindings: it drives key handling, the status bar and the `?`
//! help overlay, so help can never drift from the keys.

use crossterm::event::KeyEvent;

use crate::config::Profile;
use crate::drill::scenario::{Inject, Scenario};
use crate::keys::KeySpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    StopEs,
    StartEs,
    InsertDelete,
    InsertUpsert,
    Freeze,
    ToggleWorker,
    KillWorker,
    FocusNext,
    Filter,
    Help,
    Quit,
    ComposeUp,
    // The drill's own keys (generated from its scenario).
    FaultIn,
    FaultOut,
    InsertNext,
    PickScenario,
    SwitchLog,
    Marker,
    // Pane-local keys (fixed).
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Close,
    ToggleFollow,
    ToggleWrap,
    Zoom,
    ToggleFold,
    NextMatch,
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub action: Action,
    pub key: KeySpec,
    pub label: String,
    /// Shown in the status bar (the most useful ones).
    pub in_status_bar: bool,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

fn key(text: &str) -> KeySpec {
    // Fixed keys below are literals known to parse; configured ones were validated at load.
    KeySpec::parse(text).unwrap_or(KeySpec {
        code: crossterm::event::KeyCode::Null,
        ctrl: false,
    })
}

impl Keymap {
    /// The keys of the profile's drill.
    pub fn from_profile(profile: &Profile) -> Keymap {
        // An unknown id was refused when the profile loaded: the lab's first drill
        // stands in only for a profile made by hand.
        let drill = crate::drill::scenario::find(&profile.scenario)
            .unwrap_or_else(|_| crate::drill::catalog::builtins()[0]);
        Keymap::for_drill(profile, drill)
    }

    /// The cockpit's keys, with the drill's own generated from its scenario: its fault
    /// in and out, its next event, worker 2's log when it runs two workers.
    pub fn for_drill(profile: &Profile, drill: &Scenario) -> Keymap {
        let configured = |setting: &str| key(profile.settings.text(setting));
        let mut bindings = Vec::new();
        if !drill.inject_words.is_empty() {
            bindings.push(Binding {
                action: Action::FaultIn,
                key: configured("keys.fault_in"),
                label: format!("fault in: {}", drill.inject_words),
                // For ES down, `s`/`S` are the drill's own switch already.
                in_status_bar: drill.inject != Inject::StopEs,
            });
        }
        if drill.restorable() || drill.inject == Inject::CollectorGate {
            bindings.push(Binding {
                action: Action::FaultOut,
                key: configured("keys.fault_out"),
                label: format!("fault out: {}", drill.restore),
                in_status_bar: drill.inject != Inject::StopEs,
            });
        }
        bindings.push(Binding {
            action: Action::InsertNext,
            key: configured("keys.insert_next"),
            label: format!(
                "next event: {}",
                std::iter::once(drill.trigger)
                    .chain(drill.then.iter().copied())
                    .map(|op| op.as_str())
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            in_status_bar: true,
        });
        if drill.worker_count() == 2 || profile.replicas > 1 {
            let last = profile.replicas.max(drill.worker_count());
            bindings.push(Binding {
                action: Action::SwitchLog,
                key: configured("keys.switch_log"),
                label: if last == 2 {
                    "worker log: worker 1 / worker 2".into()
                } else {
                    format!("worker log: worker 1, 2 … {last} in turn")
                },
                in_status_bar: true,
            });
        }
        bindings.push(Binding {
            action: Action::Marker,
            key: configured("keys.marker"),
            label: "marker: a one-line note on the timeline".into(),
            in_status_bar: false,
        });
        bindings.push(Binding {
            action: Action::PickScenario,
            key: configured("keys.pick_scenario"),
            label: "pick another drill".into(),
            in_status_bar: true,
        });
        bindings.extend(vec![
            Binding {
                action: Action::StopEs,
                key: configured("keys.stop_es"),
                label: "stop ES (confirm)".into(),
                in_status_bar: true,
            },
            Binding {
                action: Action::StartEs,
                key: configured("keys.start_es"),
                label: "start ES".into(),
                in_status_bar: true,
            },
            Binding {
                action: Action::InsertDelete,
                key: configured("keys.insert_delete"),
                label: "insert delete event".into(),
                in_status_bar: true,
            },
            Binding {
                action: Action::InsertUpsert,
                key: configured("keys.insert_upsert"),
                label: "insert upsert event".into(),
                in_status_bar: true,
            },
            Binding {
                action: Action::Freeze,
                key: configured("keys.freeze"),
                label: "freeze evidence".into(),
                in_status_bar: true,
            },
            Binding {
                action: Action::ToggleWorker,
                key: configured("keys.toggle_worker"),
                label: "start/stop worker".into(),
                in_status_bar: true,
            },
            Binding {
                action: Action::KillWorker,
                key: configured("keys.kill_worker"),
                label: "kill -9 worker (confirm)".into(),
                in_status_bar: false,
            },
            Binding {
                action: Action::FocusNext,
                key: configured("keys.focus_next"),
                label: "next pane".into(),
                in_status_bar: false,
            },
            Binding {
                action: Action::Filter,
                key: configured("keys.filter"),
                label: "filter the log".into(),
                in_status_bar: false,
            },
            Binding {
                action: Action::Help,
                key: configured("keys.help"),
                label: "help".into(),
                in_status_bar: true,
            },
            Binding {
                action: Action::Quit,
                key: configured("keys.quit"),
                label: "quit".into(),
                in_status_bar: true,
            },
            Binding {
                action: Action::ComposeUp,
                key: key("U"),
                label: "docker compose up -d".into(),
                in_status_bar: false,
            },
        ]);
        for (action, text, label) in [
            (Action::Up, "Up", "select / scroll up"),
            (Action::Down, "Down", "select / scroll down"),
            (Action::PageUp, "PageUp", "scroll a page up"),
            (Action::PageDown, "PageDown", "scroll a page down"),
            (Action::Top, "Home", "to the top"),
            (Action::Bottom, "End", "to the end (log: follow)"),
            // vi's keys, as in lazydocker and k9s (shown beside the arrows in help).
            (Action::Up, "k", "select / scroll up"),
            (Action::Down, "j", "select / scroll down"),
            (Action::Top, "g", "to the top"),
            (Action::Bottom, "G", "to the end (log: follow)"),
            (
                Action::Open,
                "Enter",
                "span tree: of the selected trace, or of the underlined log line",
            ),
            (Action::Close, "Esc", "close / clear the filter"),
            (Action::ToggleFollow, "p", "log: pause / follow"),
            (Action::ToggleWrap, "W", "log: wrap long lines"),
            (
                Action::Zoom,
                "z",
                "zoom: the focused pane full screen (again: back)",
            ),
            (
                Action::ToggleFold,
                "c",
                "log: fold / unfold repeated lines (×N)",
            ),
            (Action::NextMatch, "n", "log: next filter match"),
        ] {
            bindings.push(Binding {
                action,
                key: key(text),
                label: label.into(),
                in_status_bar: false,
            });
        }
        Keymap { bindings }
    }

    /// The first binding matching the key (configured keys come first).
    pub fn action_for(&self, event: &KeyEvent) -> Option<Action> {
        self.bindings
            .iter()
            .find(|b| b.key.matches(event))
            .map(|b| b.action)
    }

    pub fn key_of(&self, action: Action) -> String {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .map(|b| b.key.to_string())
            .unwrap_or_default()
    }

    /// Keys bound twice, for a startup warning.
    pub fn conflicts(&self) -> Vec<String> {
        let mut seen: Vec<&Binding> = Vec::new();
        let mut conflicts = Vec::new();
        for binding in &self.bindings {
            if let Some(first) = seen.iter().find(|b| b.key == binding.key) {
                conflicts.push(format!(
                    "`{}` is bound to both {} and {}",
                    binding.key, first.label, binding.label
                ));
            } else {
                seen.push(binding);
            }
        }
        conflicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadOptions;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn profile(flags: &[&str]) -> Profile {
        Profile::load(&LoadOptions {
            config_path: None,
            overrides: flags.iter().map(|s| s.to_string()).collect(),
            environment: Some(Default::default()),
        })
        .unwrap()
    }

    #[test]
    fn configured_keys_drive_actions_and_conflicts_are_reported() {
        let keymap = Keymap::from_profile(&profile(&["keys.freeze=F5"]));
        assert_eq!(
            keymap.action_for(&KeyEvent::new(KeyCode::F(5), KeyModifiers::NONE)),
            Some(Action::Freeze)
        );
        assert_eq!(
            keymap.action_for(&KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE)),
            Some(Action::StopEs)
        );
        assert_eq!(
            keymap.action_for(&KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT)),
            Some(Action::StartEs)
        );
        assert!(keymap.conflicts().is_empty(), "{:?}", keymap.conflicts());
        let clash = Keymap::from_profile(&profile(&["keys.freeze=p"]));
        assert_eq!(clash.conflicts().len(), 1);
    }
}
