//! The freeze: a capture of every source (`capture.rs`) written as one all-or-nothing
//! set of files with its verdict (the last freeze adds the run's final files).

use serde_json::{Value, json};

use super::capture::FrozenFile;
use super::*;

impl Session {
    /// The freeze's timestamp label, suffixed (`-2`, `-3`, …) when a freeze already took
    /// this second: every freeze writes `_containers-<label>.json`, so that file says.
    fn freeze_label(&self) -> String {
        let base = timestamp();
        (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                }
            })
            .find(|label| {
                !self
                    .run
                    .dir
                    .join(format!("_containers-{label}.json"))
                    .exists()
            })
            .unwrap_or(base)
    }

    /// Captures every source in parallel and writes it as one all-or-nothing freeze.
    /// `last` also writes the run's final files (`metrics-after.txt`, `_result.json`,
    /// `report.md`, `timeline.svg`, `_outbox_event_id.txt`; `manifest.json` is
    /// written by `close`).
    pub async fn freeze(&mut self, last: bool) -> Result<(PathBuf, Verdict), String> {
        match self.freeze_all(last).await {
            Ok(done) => Ok(done),
            Err(error) => Err(self.action_failed("freeze", error)),
        }
    }

    async fn freeze_all(&mut self, last: bool) -> Result<(PathBuf, Verdict), String> {
        let started = std::time::Instant::now();
        let capture = self.capture(self.freeze_label(), last).await;
        let (label, event) = (capture.label.clone(), capture.event);
        let mut files = self.capture_files(&capture, last);
        let observations = self.capture_observations(capture, last);
        let capture_ms = started.elapsed().as_millis() as u64;
        // The report and the SVG show this freeze too, so its mark goes in first;
        // its total time is journaled once the files are in place.
        self.journal(
            "freeze",
            json!({"label": label, "final": last, "files": files.len(), "capture_ms": capture_ms}),
        );
        let verdict = if last {
            if let Some(event) = event {
                files.push((
                    "_outbox_event_id.txt".into(),
                    format!("{event}\n").into_bytes(),
                ));
            }
            self.write_final(&label, files, &observations).await?
        } else {
            self.write_interim(&label, files, &observations).await?
        };
        let total_ms = started.elapsed().as_millis() as u64;
        self.last_freeze_ms = Some(total_ms);
        // `label`, not `ts`: the journal stamps its own `ts` on every line.
        self.journal(
            "frozen",
            json!({"label": label, "capture_ms": capture_ms, "total_ms": total_ms}),
        );
        Ok((self.run.dir.clone(), verdict))
    }

    /// The last freeze: the evidence first; the verdict is then graded from the files
    /// as written, exactly as `verify` grades them, and written as a freeze of its own:
    /// one verdict, whoever grades the run (a source slow at this freeze cannot fail
    /// what an earlier export shows).
    async fn write_final(
        &mut self,
        label: &str,
        files: Vec<FrozenFile>,
        observations: &Observations,
    ) -> Result<Verdict, String> {
        self.write_freeze(label, files).await?;
        let (verdict, observations) = self.grade_written_run(observations).await;
        let verdict_files = self.verdict_files(&verdict, &observations, "");
        self.write_freeze(&format!("{label}-verdict"), verdict_files)
            .await?;
        Ok(verdict)
    }

    /// A freeze before the last: graded as observed (a check may still be pending),
    /// written with its verdict under its label, then a point-in-time listing of the
    /// run (the run's own `manifest.json` is written by `close`, once nothing writes
    /// into the run any more).
    async fn write_interim(
        &mut self,
        label: &str,
        mut files: Vec<FrozenFile>,
        observations: &Observations,
    ) -> Result<Verdict, String> {
        let verdict = self.grade(observations, Missing::Pending);
        files.extend(self.verdict_files(&verdict, observations, &format!("-{label}")));
        self.write_freeze(label, files).await?;
        let listing = self.listing().await?;
        self.run
            .write_json(&format!("manifest-{label}.json"), &listing)
            .map_err(error_text)?;
        Ok(verdict)
    }

    /// Writes one freeze's files, all or nothing; each file is synced to disk, off the
    /// async workers.
    async fn write_freeze(&self, label: &str, files: Vec<FrozenFile>) -> Result<(), String> {
        let run = self.run.clone();
        let label = label.to_string();
        tokio::task::spawn_blocking(move || run.freeze(&label, &files))
            .await
            .map_err(|e| format!("the freeze task failed: {e}"))?
            .map_err(error_text)?;
        Ok(())
    }

    /// The run graded from its files as `verify` reads them (falling back to what was
    /// observed live if the run directory cannot be read back).
    async fn grade_written_run(&mut self, live: &Observations) -> (Verdict, Observations) {
        // Reading the logs back is file IO of up to tens of MiB: off the async workers.
        let dir = self.run.dir.clone();
        let read = tokio::task::spawn_blocking(move || {
            crate::evidence::read::read_run_dir(&dir).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the read-back task failed: {e}")));
        let observations = match read {
            Ok(run) => run.observations,
            Err(error) => {
                self.journal(
                    "note",
                    json!({"message": format!("the run could not be read back for its verdict ({error}); graded as observed")}),
                );
                live.clone()
            }
        };
        (self.grade(&observations, Missing::Failed), observations)
    }

    /// `_result.json`, `report.md` and `timeline.svg` of a verdict (`suffix`: `-<ts>` for
    /// a freeze before the last).
    fn verdict_files(
        &self,
        verdict: &Verdict,
        observations: &Observations,
        suffix: &str,
    ) -> Vec<FrozenFile> {
        let timeline = self.timeline();
        let run_dir = self.run.dir.display().to_string();
        let banner = if self.profile.sandbox.is_some() {
            format!("> **{}**\n\n", crate::sandbox::BANNER)
        } else {
            String::new()
        };
        vec![
            (
                format!("_result{suffix}.json"),
                format!("{:#}", verdict.result_json(self.drill, &run_dir)).into_bytes(),
            ),
            (
                format!("report{suffix}.md"),
                format!(
                    "{banner}{}",
                    report::render(
                        &self.run.run_id,
                        verdict,
                        observations,
                        self.jaeger.base(),
                        &timeline,
                    )
                )
                .into_bytes(),
            ),
            (
                format!("timeline{suffix}.svg"),
                svg::render(
                    &format!("{} — {}", self.scenario, self.run.run_id),
                    &timeline,
                )
                .into_bytes(),
            ),
        ]
    }

    /// Size and sha256 of every file of the run. Hashing reads every file (the log may
    /// be large): off the async workers.
    pub(super) async fn listing(&self) -> Result<Value, String> {
        let run_dir = self.run.dir.clone();
        tokio::task::spawn_blocking(move || manifest::manifest(&run_dir, &[]))
            .await
            .map_err(|e| format!("computing the manifest failed: {e}"))
    }
}
