//! The run's own files: `_recipe.json` first, `_result.json` and `report.md` with the
//! verdict, the journal's last line and `manifest.json` last.

use serde_json::json;

use super::checks::FleetCheck;
use super::{CLAIM, Drill, ID, say};

impl Drill {
    pub(super) fn write_recipe(&self) -> anyhow::Result<()> {
        let o = &self.options;
        let mut recipe = json!({
            "tool": "drill-cockpit",
            "version": env!("CARGO_PKG_VERSION"),
            "scenario": ID,
            "run_id": self.run.run_id,
            "created_at": chrono::Utc::now().to_rfc3339(),
            "inject": {"kind": "fleet_contention", "by": "drill-cockpit fault gate", "fault": self.hold_fault().describe(), "lease_seconds": o.lease.as_secs_f64()},
            "worker": {"command": crate::sources::worker_proc::worker_command(&self.profile), "replicas": o.replicas, "claim": CLAIM},
            "events": o.events,
            "profile": self.profile.redacted_json(),
        });
        if let Some(sandbox) = &self.profile.sandbox {
            recipe["sandbox"] = sandbox.describe();
        }
        self.run.write_json("_recipe.json", &recipe)?;
        Ok(())
    }

    /// The journal's last line, then `manifest.json` last: `verify` checks every file
    /// against it.
    pub(super) async fn close(&self) {
        self.journal("closed", json!({"run_id": self.run.run_id}));
        let run_dir = self.run.dir.clone();
        let listing =
            tokio::task::spawn_blocking(move || crate::evidence::manifest::manifest(&run_dir, &[]))
                .await;
        let written = match listing {
            Ok(mut listing) => {
                listing["tool"] = json!("drill-cockpit");
                listing["run_id"] = json!(self.run.run_id);
                listing["scenario"] = json!(ID);
                self.run
                    .write_json("manifest.json", &listing)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = written {
            say(&format!("writing manifest.json failed: {error}"));
            self.journal(
                "action_failed",
                json!({"action": "write manifest.json", "error": error}),
            );
        }
    }

    pub(super) fn write_result(&self, checks: &[FleetCheck], passed: bool) -> anyhow::Result<()> {
        let result = json!({
            "scenario": ID,
            "run_id": self.run.run_id,
            "verdict": if passed { "PASSED" } else { "FAILED" },
            "ok": passed,
            "checks": checks,
            "figures": self.figures,
        });
        self.run.write_json("_result.json", &result)?;
        let mut report = format!(
            "# {ID} · {}\n\n**verdict: {}** · {} replicas · {} events\n\n| check | status | observed |\n|---|---|---|\n",
            self.run.run_id,
            if passed { "PASSED" } else { "FAILED" },
            self.options.replicas,
            self.options.events
        );
        for c in checks {
            report.push_str(&format!(
                "| {} | {} | {} |\n",
                crate::evidence::markdown::cell(c.title, 200),
                if c.passed { "passed" } else { "FAILED" },
                crate::evidence::markdown::cell(&c.observed, 400)
            ));
        }
        report.push_str(&format!("\nFigures: `{}`\n", self.figures));
        self.run.write_new("report.md", report.as_bytes())?;
        Ok(())
    }
}
