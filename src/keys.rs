//! Key bindings as written in the config file (`s`, `S`, `Tab`, `Ctrl-c`, `F5`) and
//! matched against terminal key events.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl KeySpec {
    pub fn parse(text: &str) -> Option<KeySpec> {
        let text = text.trim();
        let (ctrl, rest) = match text
            .strip_prefix("Ctrl-")
            .or_else(|| text.strip_prefix("ctrl-"))
            .or_else(|| text.strip_prefix("C-"))
        {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let code = match rest {
            "Tab" | "tab" => KeyCode::Tab,
            "BackTab" | "backtab" => KeyCode::BackTab,
            "Enter" | "enter" => KeyCode::Enter,
            "Esc" | "esc" => KeyCode::Esc,
            "Space" | "space" => KeyCode::Char(' '),
            "Up" | "up" => KeyCode::Up,
            "Down" | "down" => KeyCode::Down,
            "Left" | "left" => KeyCode::Left,
            "Right" | "right" => KeyCode::Right,
            "PageUp" | "pageup" => KeyCode::PageUp,
            "PageDown" | "pagedown" => KeyCode::PageDown,
            "Home" | "home" => KeyCode::Home,
            "End" | "end" => KeyCode::End,
            other => {
                let mut chars = other.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_control() => KeyCode::Char(c),
                    (Some('F' | 'f'), Some(_)) => KeyCode::F(
                        other[1..]
                            .parse::<u8>()
                            .ok()
                            .filter(|n| (1..=12).contains(n))?,
                    ),
                    _ => return None,
                }
            }
        };
        Some(KeySpec { code, ctrl })
    }

    pub fn matches(&self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl != self.ctrl {
            return false;
        }
        match (self.code, event.code) {
            // Terminals report `S` as Char('S') with or without SHIFT; compare the character.
            (KeyCode::Char(a), KeyCode::Char(b)) => a == b,
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            write!(f, "Ctrl-")?;
        }
        match self.code {
            KeyCode::Char(' ') => write!(f, "Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Tab => write!(f, "Tab"),
            KeyCode::BackTab => write!(f, "BackTab"),
            KeyCode::Enter => write!(f, "Enter"),
            KeyCode::Esc => write!(f, "Esc"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for text in ["s", "S", "Tab", "Ctrl-c", "F5", "/", "?", "Enter"] {
            let key = KeySpec::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(key.to_string(), text);
        }
        assert!(KeySpec::parse("").is_none());
        assert!(KeySpec::parse("ss").is_none());
        assert!(KeySpec::parse("F13").is_none());
    }

    #[test]
    fn shifted_letters_match_with_or_without_shift_flag() {
        let key = KeySpec::parse("S").unwrap();
        assert!(key.matches(&KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT)));
        assert!(key.matches(&KeyEvent::new(KeyCode::Char('S'), KeyModifiers::NONE)));
        assert!(!key.matches(&KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE)));
        assert!(!key.matches(&KeyEvent::new(KeyCode::Char('S'), KeyModifiers::CONTROL)));
    }
}
