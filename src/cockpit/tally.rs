//! One way to count a verdict's checks and name its outcome, used by the Checklist
//! pane's title, the freeze's status line, the quit question and the words printed
//! after the cockpit ends: they never disagree.

use crate::drill::{CheckOutcome, CheckStatus, Verdict};

/// How a drill stands: decided (passed or failed) or still waiting for evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    Passed,
    Failed,
    NotDecided,
}

impl Overall {
    pub fn word(self) -> &'static str {
        match self {
            Overall::Passed => "PASSED",
            Overall::Failed => "FAILED",
            Overall::NotDecided => "not decided",
        }
    }
}

/// The checks of one verdict, counted by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub pending: usize,
    ok: bool,
}

impl Tally {
    pub fn of(verdict: &Verdict) -> Tally {
        let count = |status| verdict.checks.iter().filter(|c| c.status == status).count();
        Tally {
            total: verdict.checks.len(),
            passed: count(CheckStatus::Passed),
            failed: count(CheckStatus::Failed),
            pending: count(CheckStatus::Pending),
            ok: verdict.ok,
        }
    }

    /// A failed check stays failed (live, only a `≥` bound not yet reached is pending),
    /// so one failure decides; otherwise a pending check keeps the drill undecided.
    pub fn overall(&self) -> Overall {
        if self.ok {
            Overall::Passed
        } else if self.failed == 0 && self.pending > 0 {
            Overall::NotDecided
        } else {
            Overall::Failed
        }
    }

    /// `7/8 passed · 1 pending`, `8/8 passed · PASSED`, `7/8 passed · 1 failed · FAILED`.
    pub fn words(&self) -> String {
        let mut words = format!("{}/{} passed", self.passed, self.total);
        if self.failed > 0 {
            words.push_str(&format!(" · {} failed", self.failed));
        }
        if self.pending > 0 {
            words.push_str(&format!(" · {} pending", self.pending));
        }
        let overall = self.overall();
        if overall != Overall::NotDecided {
            words.push_str(&format!(" · {}", overall.word()));
        }
        words
    }
}

impl Tally {
    /// The same count for a narrow pane: `Checks 7/8 · 1 pending`, `Checks 8/8 · PASSED`.
    pub fn short_words(&self) -> String {
        let mut words = format!("Checks {}/{}", self.passed, self.total);
        match self.overall() {
            Overall::NotDecided => words.push_str(&format!(" · {} pending", self.pending)),
            decided => words.push_str(&format!(" · {}", decided.word())),
        }
        words
    }
}

/// The checks still waiting for evidence.
pub fn pending_checks(verdict: &Verdict) -> Vec<&CheckOutcome> {
    verdict
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Pending)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &'static str, status: CheckStatus) -> CheckOutcome {
        CheckOutcome {
            id,
            title: id,
            status,
            observed: String::new(),
            before: None,
            after: None,
            delta: None,
        }
    }

    fn verdict(statuses: &[CheckStatus], ok: bool) -> Verdict {
        Verdict {
            scenario: "es_down_connect".into(),
            checks: statuses.iter().map(|s| check("c", *s)).collect(),
            ok,
            findings: Vec::new(),
        }
    }

    use CheckStatus::{Failed, Passed, Pending};

    #[test]
    fn a_pending_check_leaves_the_drill_undecided() {
        let tally = Tally::of(&verdict(&[Passed, Passed, Pending], false));
        assert_eq!(tally.words(), "2/3 passed · 1 pending");
        assert_eq!(tally.overall(), Overall::NotDecided);
    }

    #[test]
    fn every_check_passed_is_a_pass() {
        let tally = Tally::of(&verdict(&[Passed, Passed], true));
        assert_eq!(tally.words(), "2/2 passed · PASSED");
        assert_eq!(tally.overall().word(), "PASSED");
    }

    #[test]
    fn one_failed_check_decides_even_with_one_pending() {
        let tally = Tally::of(&verdict(&[Passed, Failed, Pending], false));
        assert_eq!(tally.words(), "1/3 passed · 1 failed · 1 pending · FAILED");
        assert_eq!(tally.overall(), Overall::Failed);
    }

    #[test]
    fn all_passed_but_not_ok_is_a_failure() {
        // The fault's effect was never seen: the grader says not ok.
        let tally = Tally::of(&verdict(&[Passed], false));
        assert_eq!(tally.words(), "1/1 passed · FAILED");
    }

    #[test]
    fn pending_checks_are_listed() {
        let verdict = verdict(&[Passed, Pending, Failed, Pending], false);
        assert_eq!(pending_checks(&verdict).len(), 2);
    }
}
