//! Every style the panes draw with, by what it means (passed, failed, a warning, the
//! focus …), in one place: the colour theme paints them, the monochrome theme (`--theme
//! mono`, `cockpit.theme = "mono"`, or `NO_COLOR` set) uses bold, reverse and underline
//! only. What a colour says is always said in text or a symbol as well (`✓ ✗ …`, the
//! state's word), so nothing is lost without colour.

use ratatui::style::{Color, Modifier, Style};

use crate::evidence::moments::MomentKind;

/// The words `cockpit.theme` and `--theme` take.
pub const CHOICES: &[&str] = &["auto", "color", "mono"];

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ThemeChoice {
    /// Colour unless `NO_COLOR` is set (to anything but the empty string).
    #[default]
    Auto,
    /// Colour, even with `NO_COLOR` set (an explicit choice overrides it, as
    /// no-color.org asks).
    Color,
    /// Bold, reverse and underline only.
    Mono,
}

impl ThemeChoice {
    /// One of [`CHOICES`]; validated by the config loader before it gets here.
    pub fn parse(text: &str) -> Option<ThemeChoice> {
        match text.trim() {
            "auto" => Some(ThemeChoice::Auto),
            "color" => Some(ThemeChoice::Color),
            "mono" => Some(ThemeChoice::Mono),
            _ => None,
        }
    }

    /// The theme to draw with, given the value of `NO_COLOR` (if set).
    pub fn resolve(self, no_color: Option<&str>) -> Theme {
        match self {
            ThemeChoice::Color => Theme::Colour,
            ThemeChoice::Mono => Theme::Mono,
            // no-color.org: set and not empty, whatever the value.
            ThemeChoice::Auto if no_color.is_some_and(|v| !v.is_empty()) => Theme::Mono,
            ThemeChoice::Auto => Theme::Colour,
        }
    }

    /// [`ThemeChoice::resolve`] with this process's `NO_COLOR`.
    pub fn resolve_from_process(self) -> Theme {
        self.resolve(std::env::var("NO_COLOR").ok().as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Colour,
    Mono,
}

impl Theme {
    /// Tells the terminal backend too. crossterm drops every colour by itself when
    /// `NO_COLOR` is set; an explicit `--theme color` must still win (no-color.org: a
    /// user's own choice overrides the variable), and mono never sends one either way.
    pub fn apply_to_terminal(self) {
        crossterm::style::Colored::set_ansi_color_disabled(self == Theme::Mono);
    }
}

const BOLD: Modifier = Modifier::BOLD;
const REVERSED: Modifier = Modifier::REVERSED;
const UNDERLINED: Modifier = Modifier::UNDERLINED;

impl Theme {
    fn pick(self, colour: Style, mono: Style) -> Style {
        match self {
            Theme::Colour => colour,
            Theme::Mono => mono,
        }
    }

    fn fg(self, colour: Color, mono: Modifier) -> Style {
        self.pick(
            Style::default().fg(colour),
            Style::default().add_modifier(mono),
        )
    }

    /// The lines of worker `n` of a fleet in the log pane: worker 1 plain, the others
    /// each a colour of their own (mono: italic, so a replica's lines still differ).
    pub fn worker(self, n: usize) -> Style {
        const PALETTE: [Color; 6] = [
            Color::Cyan,
            Color::Magenta,
            Color::Blue,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightMagenta,
        ];
        match n {
            0 | 1 => Style::default(),
            n => self.fg(PALETTE[(n - 2) % PALETTE.len()], Modifier::ITALIC),
        }
    }

    /// Passed, running, done, reachable.
    pub fn good(self) -> Style {
        self.fg(Color::Green, Modifier::empty())
    }

    /// Failed (a check, a trace, a request that answered an error).
    pub fn bad(self) -> Style {
        self.fg(Color::Red, BOLD)
    }

    /// An error message, or a state that needs someone's attention (exited, down).
    pub fn error(self) -> Style {
        self.pick(
            Style::default().fg(Color::Red).add_modifier(BOLD),
            Style::default().add_modifier(BOLD),
        )
    }

    /// A warning, a retry, a state in between (restarting, pending).
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow, UNDERLINED)
    }

    /// Something in progress, or a link to follow.
    pub fn active(self) -> Style {
        self.fg(Color::Cyan, Modifier::empty())
    }

    /// A key in the status bar and the help.
    pub fn key(self) -> Style {
        self.fg(Color::Cyan, BOLD)
    }

    /// Secondary text: headers, hints, details.
    pub fn dim(self) -> Style {
        self.fg(Color::DarkGray, Modifier::empty())
    }

    /// Bold, in either theme.
    pub fn strong(self) -> Style {
        Style::default().add_modifier(BOLD)
    }

    /// The border of the focused pane (also drawn thick) and of the others.
    pub fn border(self, focused: bool) -> Style {
        match (self, focused) {
            (Theme::Colour, true) => Style::default().fg(Color::Cyan),
            (Theme::Colour, false) => Style::default().fg(Color::DarkGray),
            (Theme::Mono, true) => Style::default().add_modifier(BOLD),
            (Theme::Mono, false) => Style::default(),
        }
    }

    /// A bar that must be noticed: the sandbox banner, a busy action, a fault in force.
    pub fn badge_warn(self) -> Style {
        self.pick(
            Style::default().fg(Color::Black).bg(Color::Yellow),
            Style::default().add_modifier(REVERSED),
        )
    }

    /// The status bar after a failed action.
    pub fn badge_error(self) -> Style {
        self.pick(
            Style::default().fg(Color::White).bg(Color::Red),
            Style::default().add_modifier(REVERSED | BOLD),
        )
    }

    /// The status bar after an action that worked.
    pub fn badge_ok(self) -> Style {
        self.pick(
            Style::default().fg(Color::Black).bg(Color::Green),
            Style::default().add_modifier(REVERSED),
        )
    }

    /// The chosen line of a list, the replay's cursor.
    pub fn selected(self) -> Style {
        self.pick(
            Style::default().fg(Color::Black).bg(Color::Cyan),
            Style::default().add_modifier(REVERSED),
        )
    }

    /// A log line that matches the filter.
    pub fn matched(self) -> Style {
        self.pick(
            Style::default().fg(Color::White).bg(Color::Blue),
            Style::default().add_modifier(REVERSED),
        )
    }

    /// The worker's schema line in the log (the moment the log shows it is the right
    /// worker).
    pub fn landmark(self) -> Style {
        self.pick(
            Style::default().fg(Color::Green).add_modifier(BOLD),
            Style::default().add_modifier(BOLD),
        )
    }

    /// A moment's glyph on the timeline (each kind has its own glyph too).
    pub fn moment(self, kind: MomentKind) -> Style {
        match kind {
            MomentKind::FaultIn | MomentKind::FirstTerminal => self.bad(),
            MomentKind::FaultOut | MomentKind::Recovered => self.good(),
            MomentKind::FirstRetry => self.warn(),
            MomentKind::Freeze => self.dim(),
            MomentKind::Marker => self.fg(Color::Magenta, BOLD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_set_to_anything_but_empty_means_mono_unless_colour_was_chosen() {
        assert_eq!(ThemeChoice::Auto.resolve(None), Theme::Colour);
        assert_eq!(ThemeChoice::Auto.resolve(Some("")), Theme::Colour);
        assert_eq!(ThemeChoice::Auto.resolve(Some("1")), Theme::Mono);
        assert_eq!(ThemeChoice::Auto.resolve(Some("false")), Theme::Mono);
        assert_eq!(ThemeChoice::Color.resolve(Some("1")), Theme::Colour);
        assert_eq!(ThemeChoice::Mono.resolve(None), Theme::Mono);
    }

    #[test]
    fn the_config_words_are_the_choices() {
        for word in CHOICES {
            assert!(ThemeChoice::parse(word).is_some(), "{word}");
        }
        assert_eq!(ThemeChoice::parse("colour"), None);
    }
}
