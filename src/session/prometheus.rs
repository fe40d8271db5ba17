//! The counters from Prometheus (`metrics.source = "prometheus"`): the baseline, the
//! live counters, every freeze and the final verdict come from PromQL instant queries
//! summed over the workers' instances by [`crate::prom::ledger`]'s rules; each page is
//! rendered back to exposition text, so `_metrics/*.txt` read as a scrape's do (and
//! upstream's rules read them). A freeze and the baseline also keep every query and
//! its answer (`_metrics/promql-before.json`, then `promql-<ts>.json` per freeze); live polls only journal their counters.

use serde_json::{Value, json};

/// The baseline's queries and answers (each freeze's are `_metrics/promql-<ts>.json`).
const BASELINE_PROMQL: &str = "_metrics/promql-before.json";

use super::*;
use crate::prom::ledger::{self, Counted, Ledger};
use crate::prom::query::{Answered, PromClient, Series};

/// How long the baseline waits for Prometheus to have scraped every worker: it applies
/// new targets every 5 s (discovery, then the scrape manager: up to 10 s), then scrapes
/// within a second; the rest is for a loaded machine. As long as a worker's own start.
const TARGETS_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the last freeze waits for a scrape of every worker newer than its start:
/// a second, or up to ~10 s for a worker whose address Prometheus has not applied yet.
const FRESH_TIMEOUT: Duration = Duration::from_secs(12);

/// The Prometheus source of a session.
pub struct PromCounters {
    client: PromClient,
    selector: String,
    ledger: Option<Ledger>,
    /// The last page's series, for each worker's own page.
    last: Option<PromPage>,
}

/// One reading of the counters: the page, and what it was made from.
#[derive(Clone)]
pub struct PromPage {
    pub scrape: Scrape,
    pub answers: Vec<Answered>,
    counted: Vec<Counted>,
    gauges: Vec<Series>,
    /// The ledger after this read (none before the baseline).
    advanced: Option<Ledger>,
}

impl PromPage {
    /// Every query and its answer, as a run keeps them.
    pub fn record(&self) -> Value {
        json!({"source": "prometheus", "queries": self.answers.iter().map(Answered::record).collect::<Vec<_>>()})
    }
}

impl PromCounters {
    /// `Prometheus http://…:9090 {job="outbox-worker"}`.
    pub fn describe(&self) -> String {
        format!("Prometheus {} {{{}}}", self.client.url, self.selector)
    }

    pub fn new(source: &crate::config::PrometheusSource) -> PromCounters {
        PromCounters {
            client: PromClient::new(&source.url),
            selector: source.selector.clone(),
            ledger: None,
            last: None,
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A page's header: where the numbers came from, so no one reads it as a scrape.
fn header(url: &str, selector: &str, what: &str) -> String {
    format!(
        "drill-cockpit: {what}, from Prometheus {url} ({selector}), counters summed over instances by their contract labels (docs/PROMETHEUS.md)"
    )
}

impl Session {
    /// The Prometheus source, when the counters come from it.
    pub fn prometheus(&self) -> Option<&PromCounters> {
        self.prom_counters.as_ref()
    }

    /// The counters now: since the baseline once it is taken, else as they stand.
    pub(super) async fn prom_page(&self) -> Result<PromPage, String> {
        let Some(prom) = &self.prom_counters else {
            return Err("the counters do not come from Prometheus".into());
        };
        let now = unix_now();
        let (client, selector) = (&prom.client, prom.selector.as_str());
        let mut answers = Vec::new();
        let advanced = match &prom.ledger {
            Some(ledger) => {
                let query = ledger::counters_range(selector, &ledger.range_to(now));
                let answer = client.instant(&query, now).await.map_err(error_text)?;
                let advanced = ledger.advance(now, &answer.series);
                answers.push(answer);
                Some(advanced)
            }
            None => None,
        };
        let counted = match &advanced {
            Some(ledger) => ledger.counts(),
            // Before the baseline: the counters as they stand.
            None => {
                let answer = client
                    .instant(&ledger::counters_query(selector), now)
                    .await
                    .map_err(error_text)?;
                let counted = Ledger::baseline(now, &answer.series, &[]).counts();
                answers.push(answer);
                counted
            }
        };
        let gauges = client
            .instant(&ledger::gauges_query(selector), now)
            .await
            .map_err(error_text)?;
        let gauge_series = gauges.series.clone();
        answers.push(gauges);
        let mut samples = ledger::summed(&counted, true, None);
        samples
            .samples
            .extend(ledger::gauges(&gauge_series, None).samples);
        let raw = ledger::render(
            &samples,
            &header(&client.url, selector, "the drill's workers now"),
        );
        Ok(PromPage {
            scrape: Scrape { raw, samples },
            answers,
            counted,
            gauges: gauge_series,
            advanced,
        })
    }

    /// Keeps a page as the latest counters (a killed worker's last value is in it).
    pub(super) fn keep_prom_page(&mut self, page: PromPage) -> Scrape {
        let scrape = page.scrape.clone();
        self.latest = Some(scrape.clone());
        if let Some(prom) = self.prom_counters.as_mut() {
            if let Some(ledger) = &page.advanced {
                prom.ledger = Some(ledger.clone());
            }
            prom.last = Some(page);
        }
        scrape
    }

    /// A live poll of the counters (the cockpit's tick, the run's observation loop).
    pub(super) async fn scrape_prometheus(&mut self) -> Result<Scrape, String> {
        let page = self.prom_page().await?;
        let scrape = self.keep_prom_page(page);
        self.journal_counters(&scrape.samples);
        Ok(scrape)
    }

    /// Waits until Prometheus's `up` is 1 for every worker of [`Session::metrics_targets`]
    /// with a scrape at or after `since` (unix seconds), or `timeout` passes.
    async fn prom_targets_scraped(
        &self,
        only: Option<&[String]>,
        since: f64,
        timeout: Duration,
    ) -> Result<(), String> {
        let Some(prom) = &self.prom_counters else {
            return Ok(());
        };
        let query = format!(
            "timestamp({}) and {} == 1",
            ledger::up_query(&prom.selector),
            ledger::up_query(&prom.selector)
        );
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let wanted = only.map_or_else(|| self.metrics_targets(), <[String]>::to_vec);
            let missing = match prom.client.instant(&query, unix_now()).await {
                Ok(answer) => wanted
                    .iter()
                    .filter(|target| {
                        !answer.series.iter().any(|s| {
                            s.labels.get("instance") == Some(*target)
                                // The value of `timestamp(up)` is the last scrape's time.
                                && s.samples.last().is_some_and(|&(_, scraped)| scraped >= since)
                        })
                    })
                    .cloned()
                    .collect::<Vec<_>>(),
                // Waiting does not fix a wrong URL or selector; the sandbox's Prometheus
                // answered before the drill began.
                Err(error) => return Err(error.to_string()),
            };
            if missing.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "Prometheus at {} has not scraped {} within {} s ({} with up == 1 wanted); check that it scrapes them and that metrics.prometheus_selector ({}) selects them",
                    prom.client.url,
                    missing.join(", "),
                    timeout.as_secs(),
                    ledger::up_query(&prom.selector),
                    prom.selector
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Before the last freeze: every live worker scraped after now, so the verdict
    /// sees what the workers counted up to this moment (one scrape interval late at
    /// most otherwise). Waiting longer than the budget is journaled, not fatal.
    pub(super) async fn prom_wait_fresh(&mut self) {
        // Only workers running now: a worker that exited is never scraped again.
        let running =
            |state: Option<WorkerState>| matches!(state, Some(WorkerState::Running { .. }));
        let live: Vec<String> = self
            .metrics_targets()
            .into_iter()
            .filter(|target| {
                let second = self
                    .second
                    .as_ref()
                    .is_some_and(|s| *target == format!("127.0.0.1:{}", s.metrics_port));
                match second {
                    true => running(self.second.as_mut().map(|s| s.process.poll())),
                    false => running(self.worker.as_mut().map(|w| w.poll())),
                }
            })
            .collect();
        if let Err(error) = self
            .prom_targets_scraped(Some(&live), unix_now(), FRESH_TIMEOUT)
            .await
        {
            self.journal(
                "note",
                json!({"message": format!("the last freeze's counters may be one scrape old: {error}")}),
            );
        }
    }

    /// The baseline from Prometheus: once every worker is scraped, each series' value
    /// and last sample time (`metrics-before.txt`, per worker pages for two workers,
    /// `promql-<ts>.json`).
    pub(super) async fn take_prom_baseline(&mut self) -> Result<(), String> {
        let started = unix_now();
        self.prom_targets_scraped(None, started, TARGETS_UP_TIMEOUT)
            .await?;
        let Some(prom) = &self.prom_counters else {
            return Err("the counters do not come from Prometheus".into());
        };
        let at = unix_now();
        let selector = prom.selector.clone();
        let present = prom
            .client
            .instant(&ledger::counters_query(&selector), at)
            .await
            .map_err(error_text)?;
        let history = prom
            .client
            .instant(
                &ledger::counters_range(&selector, ledger::BASELINE_LOOKBACK),
                at,
            )
            .await
            .map_err(error_text)?;
        let baseline = Ledger::baseline(at, &present.series, &history.series);
        if let Some(prom) = self.prom_counters.as_mut() {
            prom.ledger = Some(baseline);
        }
        let page = self.prom_page().await?;
        let mut answers = vec![present, history];
        answers.extend(page.answers.iter().cloned());
        // Named for what it is, like metrics-before.txt: a freeze in the same second as
        // the baseline (a quick drill) must not collide with it.
        let record = json!({"source": "prometheus", "baseline_at": at, "queries": answers.iter().map(Answered::record).collect::<Vec<_>>()});
        self.run
            .write_json(BASELINE_PROMQL, &record)
            .map_err(error_text)?;
        let before = self.prom_worker_page(&page, None, false);
        self.run
            .write_new("_metrics/metrics-before.txt", before.raw.as_bytes())
            .map_err(error_text)?;
        let mut files = vec!["_metrics/metrics-before.txt".to_string()];
        if self.drill.worker_count() == 2 {
            for (n, file) in self.prom_worker_files(&page, "before") {
                self.run.write_new(&n, &file).map_err(error_text)?;
                files.push(n);
            }
        }
        self.journal(
            "baseline",
            json!({"metrics": files, "source": "prometheus", "promql": BASELINE_PROMQL}),
        );
        self.baseline = Some(before);
        let scrape = self.keep_prom_page(page);
        self.journal_counters(&scrape.samples);
        Ok(())
    }

    /// Worker 2 started after the baseline: its series count from 0 (the ledger's
    /// rule for a series born later), whenever Prometheus first scrapes it. Nothing is
    /// waited for: F kills worker 1 right after this, while it still holds its claim
    /// (Prometheus takes up to ~10 s to scrape a new address). Its own baseline page
    /// (`metrics-before-2.txt`, all 0 by that rule) is written when Prometheus already
    /// has its series.
    pub(super) async fn take_prom_second_baseline(&mut self) -> Result<(), String> {
        let mut detail = json!({"worker": 2, "source": "prometheus", "rule": "a worker started after the baseline counts from 0"});
        if let Ok(page) = self.prom_page().await {
            if let Some((name, bytes)) = self
                .prom_worker_files(&page, "before")
                .into_iter()
                .find(|(name, _)| name.ends_with("-2.txt"))
            {
                self.run.write_new(&name, &bytes).map_err(error_text)?;
                detail["metrics"] = json!(name);
            }
            self.keep_prom_page(page);
        }
        self.journal("baseline", detail);
        Ok(())
    }

    /// A page of the baseline (`after == false`) or of `page`, of every worker or of
    /// the one scraped at `instance`.
    fn prom_worker_page(&self, page: &PromPage, instance: Option<&str>, after: bool) -> Scrape {
        // The gauges as they stood when `page` was read (the baseline's page is read
        // at the baseline).
        let mut samples = ledger::summed(&page.counted, after, instance);
        samples
            .samples
            .extend(ledger::gauges(&page.gauges, instance).samples);
        let (url, selector) = self
            .prom_counters
            .as_ref()
            .map(|p| (p.client.url.as_str(), p.selector.as_str()))
            .unwrap_or_default();
        let what = match (instance, after) {
            (Some(instance), true) => format!("the worker at {instance} at this freeze"),
            (Some(instance), false) => format!("the worker at {instance} at the baseline"),
            (None, true) => "every worker of the drill at this freeze".to_string(),
            (None, false) => "every worker of the drill at the baseline".to_string(),
        };
        let raw = ledger::render(&samples, &header(url, selector, &what));
        Scrape { raw, samples }
    }

    /// `metrics-<when>-1.txt` and `-2`: each worker's own series (upstream's rules of a
    /// two-worker drill read them), for the workers whose instance Prometheus names.
    fn prom_worker_files(&self, page: &PromPage, when: &str) -> Vec<(String, Vec<u8>)> {
        let mut workers = vec![(1, format!("127.0.0.1:{}", self.profile.metrics_port))];
        if let Some(second) = &self.second {
            workers.push((2, format!("127.0.0.1:{}", second.metrics_port)));
        }
        workers
            .into_iter()
            .filter(|(_, instance)| {
                page.counted
                    .iter()
                    .any(|c| c.labels.get("instance") == Some(instance))
            })
            .map(|(n, instance)| {
                let page = self.prom_worker_page(page, Some(&instance), when == "after");
                (
                    format!("_metrics/metrics-{when}-{n}.txt"),
                    page.raw.into_bytes(),
                )
            })
            .collect()
    }

    /// Each worker's change since the baseline (processed, failed, retry_scheduled),
    /// for the cockpit's per-worker line; `None` when the counters are scraped.
    pub fn prom_worker_deltas(&self) -> Option<Vec<(usize, f64, f64, f64)>> {
        let page = self.prom_counters.as_ref()?.last.as_ref()?;
        let mut workers = vec![(1, format!("127.0.0.1:{}", self.profile.metrics_port))];
        if let Some(second) = &self.second {
            workers.push((2, format!("127.0.0.1:{}", second.metrics_port)));
        }
        let rows = workers
            .into_iter()
            .map(|(n, instance)| {
                let change = |metric: &str| {
                    let of = |after| {
                        ledger::summed(&page.counted, after, Some(&instance)).sum(metric, &[])
                    };
                    of(true) - of(false)
                };
                (
                    n,
                    change("outbox_processed_total"),
                    change("outbox_failed_total"),
                    change("outbox_retry_scheduled_total"),
                )
            })
            .collect();
        Some(rows)
    }

    /// The last freeze's per-worker pages (two-worker drills, or a replaced worker).
    pub(super) fn prom_per_worker_after(&self) -> Vec<(String, Vec<u8>)> {
        match (
            &self.second,
            self.prom_counters.as_ref().and_then(|p| p.last.as_ref()),
        ) {
            (Some(_), Some(page)) => self.prom_worker_files(page, "after"),
            _ => Vec::new(),
        }
    }

    /// Tells the sandbox's Prometheus which workers to scrape now (file-based service
    /// discovery); nothing to do on a Prometheus the user runs.
    pub(super) fn sync_prometheus_targets(&mut self) {
        let Some(sandbox) = self.profile.sandbox.clone() else {
            return;
        };
        let targets = self.metrics_targets();
        if let Err(error) = sandbox.set_prometheus_targets(&targets) {
            self.action_failed("tell Prometheus the workers' addresses", error);
        }
    }
}
