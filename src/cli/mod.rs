//! The command line: parses flags, loads the profile once, and hands off to the part
//! of the program that does the work. Errors end here, printed once with their fix.

mod drill;
mod generate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

use crate::config::{LoadOptions, Origin, Profile};
use crate::db;
use crate::db::outbox::{NewEvent, Op};
use crate::exit::CouldNotRun;

/// Where the user's files are, and what the environment changes: the end of `--help`
/// and of the man page.
const AFTER_HELP: &str = "\
Files:
  ./drill-cockpit.toml, or --config PATH
      the project's settings
  $XDG_CONFIG_HOME/drill-cockpit/config.toml
      (default ~/.config/drill-cockpit/config.toml)
      your own defaults, below the project's file
  $XDG_STATE_HOME/drill-cockpit/drill-cockpit.log
      (default ~/.local/state/drill-cockpit/drill-cockpit.log)
      the diagnostics of the cockpit, replay and run, never
      written to the terminal; passwords masked

Environment:
  RUST_LOG   the diagnostics log's level (default info),
             e.g. debug or drill_cockpit=debug
  NO_COLOR   set and not empty: the monochrome theme,
             as --theme mono (--theme color wins)

Settings, each over the one before: defaults, user config,
project file, environment, --set";

#[derive(Debug, Parser)]
#[command(
    name = "drill-cockpit",
    version = env!("DRILL_COCKPIT_VERSION"),
    about = "Terminal cockpit for failure drills on an outbox search worker",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Cockpit: run `docker compose -f … up -d` without asking when the stack is absent.
    #[arg(long)]
    pub up: bool,
    /// Cockpit: the drill to start with (CONTRACT §6 ids; `D` picks another later).
    /// The same as --set cockpit.scenario=<id>.
    #[arg(long, value_name = "ID")]
    pub scenario: Option<String>,
    /// A self-contained practice range instead of the real stack: a throwaway Postgres
    /// from the local server binaries (or DATABASE_URL), a simulated Elasticsearch and
    /// trace store in this process, the bundled worker. No Docker, no images.
    #[arg(long)]
    pub sandbox: bool,
    /// Cockpit: load a drill file (docs/DRILLS.md) and start with it (repeatable; a
    /// file with a built-in's id overrides it).
    #[arg(long = "drill", value_name = "FILE")]
    pub drill_files: Vec<PathBuf>,
    /// Cockpit: the gate's fault in one line, replacing the drill's (or in the ad-hoc
    /// drill when none is named), e.g. "abort 503 on bulk for 5s".
    #[arg(long, value_name = "SPEC")]
    pub fault: Option<String>,
    /// Cockpit: run every drill with N workers (a fleet: each its own id, ports, log).
    /// The same as --set worker.replicas=N.
    #[arg(long, value_name = "N")]
    pub replicas: Option<String>,
    /// Sandbox only: the counters from a throwaway Prometheus (the local `prometheus`
    /// binary) scraping every worker each second, queried with PromQL.
    #[arg(long)]
    pub prometheus: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// TOML profile; without it ./drill-cockpit.toml is read when present.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Override one setting, e.g. --set elastic.url=http://127.0.0.1:9201 (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Colours of the cockpit and replay: auto (colour unless NO_COLOR is set), color,
    /// or mono (bold, reverse and symbols only). The same as --set cockpit.theme=<word>.
    #[arg(long, global = true, value_enum, value_name = "THEME")]
    pub theme: Option<crate::ui::theme::ThemeChoice>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the effective profile, each value with where it came from (secrets redacted).
    Config,
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Insert outbox events (the runbook's insert helper); prints one outbox id per line.
    Insert(InsertArgs),
    /// Run the reference search-outbox worker (configured by the contract's env vars).
    Worker,
    /// Run a drill headless: the runbook without a human; the exit code is the verdict.
    Run(RunArgs),
    /// Re-grade runs from their raw evidence: ours by our checks, another tool's (any of
    /// upstream's nine scenarios) by upstream's rules. Read-only.
    Verify {
        /// snapshots/<scenario>/<run_id>, a folder with runs below it (any depth), or an
        /// evidence bundle (*.tar.gz from `export`)
        run_dir: PathBuf,
        /// Print the result as JSON (upstream's check ids and observed keys).
        #[arg(long)]
        json: bool,
        /// Show where our verdict and numbers differ from the run's own _result.json.
        #[arg(long)]
        compare: bool,
        /// Also write a JUnit XML report: one testcase per run (never over a file).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Bundle a run as evidence: one .tar.gz of the run directory (its manifest.json
    /// included) and its HTML report, for a ticket or a CI artifact; `verify` takes it
    /// back. Read-only on the run; the file goes to --out or
    /// ./evidence-<scenario>-<run_id>.tar.gz, never over an existing file.
    Export {
        /// snapshots/<scenario>/<run_id> (ours or another tool's)
        run_dir: PathBuf,
        /// Where to write it: a *.tar.gz (or *.tgz) path.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Play a run back in the cockpit's panes, read-only (ours, or another tool's as far
    /// as its files go): space play/pause, ←/→ moments, +/- speed, q quit.
    Replay {
        /// snapshots/<scenario>/<run_id>
        run_dir: PathBuf,
        /// Drill seconds per wall second (0.25–960).
        #[arg(long, default_value = "1", value_parser = parse_speed)]
        speed: f64,
        /// Start paused at the beginning.
        #[arg(long)]
        paused: bool,
    },
    /// The fault gate as a standalone fault proxy in front of Elasticsearch (like
    /// Toxiproxy): its fault switched at run time through --control (docs/GATE.md),
    /// every request recorded as a JSON line. Ctrl-C stops it.
    Gate(GateArgs),
    /// Share a run: one self-contained HTML file (verdict, checklist, counters, the
    /// drill's story and timeline, key log lines with trace links, the manifest).
    /// Read-only on the run; the file goes to --out or ./report-<scenario>-<run_id>.html.
    Report {
        /// snapshots/<scenario>/<run_id> (ours or another tool's)
        run_dir: PathBuf,
        /// Write the HTML report (the format this command writes).
        #[arg(long)]
        html: bool,
        /// Where to write it (never over an existing file).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Drill files: check one, list every drill with its origin, show one's file.
    Drill {
        #[command(subcommand)]
        command: drill::DrillCommand,
    },
    /// Print a shell completion script: e.g. `drill-cockpit completions bash >
    /// ~/.local/share/bash-completion/completions/drill-cockpit`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (`drill-cockpit man | man -l -`), or with --out write one page
    /// per command into a folder (drill-cockpit.1, drill-cockpit-run.1, …).
    Man {
        /// An existing folder, e.g. ~/.local/share/man/man1.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// Where the gate listens, e.g. 127.0.0.1:9201 (give this to the worker as ELASTIC_URL).
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Elasticsearch's base URL, plain http, e.g. http://127.0.0.1:9200.
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// The fault in force from the start, in one line (default: pass), e.g.
    /// "abort 429 on bulk every 3 retry-after 2", "latency 200-800ms", "black-hole",
    /// "bulk-item 1 400", "refuse".
    #[arg(long, value_name = "SPEC", default_value = "pass", value_parser = crate::faults::line::parse)]
    pub fault: crate::faults::Fault,
    /// Serve the control API here (GET|PUT|DELETE /fault, GET /records?since=N,
    /// GET /health), e.g. 127.0.0.1:8474.
    #[arg(long, value_name = "ADDR")]
    pub control: Option<std::net::SocketAddr>,
    /// Write every request as a JSON line: - for stdout, or a file (appended to).
    #[arg(long, value_name = "FILE")]
    pub records: Option<PathBuf>,
    /// Threads serving connections (like haproxy's nbthread); default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Drill id (`drill-cockpit drill list`), or `all` for the lab's drills in turn with
    /// a summary; may be left out with --drill (its file's drill) or --fault (ad-hoc).
    pub scenario: Option<String>,
    /// Load a drill file (docs/DRILLS.md) and run it (repeatable; the last one runs
    /// unless a drill is named; a file with a built-in's id overrides it).
    #[arg(long = "drill", value_name = "FILE")]
    pub drill_files: Vec<PathBuf>,
    /// The gate's fault in one line, replacing the drill's (or in the ad-hoc drill when
    /// none is named), e.g. "abort 503 on bulk for 5s". Grammar: docs/DRILLS.md.
    #[arg(long, value_name = "SPEC")]
    pub fault: Option<String>,
    /// How long to observe the outage at most, e.g. 20s or 1m.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: std::time::Duration,
    /// upsert or delete; defaults to OUTBOX_OP (else delete).
    #[arg(long)]
    pub op: Option<String>,
    /// Keep only the newest N run directories of this scenario.
    #[arg(long)]
    pub keep_last: Option<usize>,
    /// How long to wait for recovery after ES is started again.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub recovery_timeout: std::time::Duration,
    /// A control run: everything but the fault. Its verdict must be FAILED (exit 1):
    /// proof that the checks need the fault to pass.
    #[arg(long)]
    pub control: bool,
    /// Run in the sandbox (see `drill-cockpit --help`): no Docker, no images.
    #[arg(long)]
    pub sandbox: bool,
    /// With --sandbox: the counters from a throwaway Prometheus (the local `prometheus`
    /// binary) scraping every worker each second, queried with PromQL.
    #[arg(long)]
    pub prometheus: bool,
    /// Where the fault comes from: `outside` (the gate, the ES API, processes, Docker:
    /// any worker) or `worker` (upstream's in-worker OUTBOX_EXPERIMENT_* switches, for a
    /// worker that has them: B, D, E, F; the other drills stay outside).
    #[arg(long, default_value = "outside", value_parser = ["outside", "worker"])]
    pub inject: String,
    /// Print the result as JSON on stdout (as `verify --json`; for `all`, every run).
    #[arg(long)]
    pub json: bool,
    /// Also write a JUnit XML report: one testcase per drill (never over a file).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run the drill with N workers (a fleet: each its own id, ports and log; E and F
    /// keep their roles within it; the counter checks use the fleet's sums). The same
    /// as --set worker.replicas=N.
    #[arg(long, value_name = "N")]
    pub replicas: Option<String>,
    /// fleet-contention only: how many events the fleet drains (default 2000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub events: Option<u32>,
}

/// The longest `--duration` or `--recovery-timeout`: one day.
pub const MAX_DURATION_SECONDS: f64 = 86_400.0;

/// `20s`, `1m`, `1500ms`, or plain seconds; from 0 to one day.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let Ok(number) = number.trim().parse::<f64>() else {
        return Err(format!(
            "{text:?} is not a duration: use e.g. 20s, 1m or 1500ms"
        ));
    };
    let seconds = number * scale;
    if !(0.0..=MAX_DURATION_SECONDS).contains(&seconds) {
        return Err(format!(
            "{text:?} is out of range: a duration from 0s to {MAX_DURATION_SECONDS}s (one day), e.g. 20s, 1m or 1500ms"
        ));
    }
    std::time::Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text:?}: {error}"))
}

/// `replay --speed`: drill seconds per wall second, from 0.25 to 960.
pub fn parse_speed(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(speed) if (0.25..=960.0).contains(&speed) => Ok(speed),
        _ => Err(format!(
            "{text:?} is not a speed from 0.25 to 960 (drill seconds per wall second), e.g. 1 or 4"
        )),
    }
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the schema migrations in assets/migrations to the profile's database.
    Migrate,
}

#[derive(Debug, Args)]
pub struct InsertArgs {
    /// upsert or delete; defaults to OUTBOX_OP (else delete).
    #[arg(long)]
    pub op: Option<String>,
    /// The entity (ES document id); a fresh one when absent.
    #[arg(long)]
    pub entity_id: Option<Uuid>,
    /// How many events (each on its own entity unless --entity-id is given).
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// event_version; defaults to the entity's next version.
    #[arg(long)]
    pub version: Option<i64>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("drill-cockpit: cannot start the async runtime: {error}");
            return ExitCode::from(crate::exit::USAGE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // Recorded too when the diagnostics log is open (the cockpit's screen is gone).
            tracing::error!("ended: {error:#}");
            eprintln!("drill-cockpit: {error:#}");
            ExitCode::from(crate::exit::code_of(&error))
        }
    }
}

pub fn load_profile(global: &GlobalArgs) -> anyhow::Result<Profile> {
    Ok(Profile::load(&LoadOptions {
        config_path: global.config.clone(),
        overrides: global.overrides.clone(),
        environment: None,
    })?)
}

/// Where runs are, for a command that reads one without needing a valid profile: the
/// profile's `cockpit.snapshots_dir` when it loads, else the default.
fn snapshots_dir(global: &GlobalArgs) -> PathBuf {
    load_profile(global)
        .map(|profile| profile.snapshots_dir)
        .unwrap_or_else(|_| PathBuf::from("snapshots"))
}

/// Opens the diagnostics log for a command that runs a while (the cockpit, replay, a
/// drill); without one the command runs on, having said why once.
fn open_diagnostics(command: &str) {
    match crate::diagnostics::init(&crate::xdg::process_environment()) {
        Ok(path) => tracing::info!(
            version = env!("DRILL_COCKPIT_VERSION"),
            pid = std::process::id(),
            log = %path.display(),
            "drill-cockpit {command} started"
        ),
        Err(problem) => eprintln!("drill-cockpit: warning: {problem}"),
    }
}

/// The word `--set cockpit.theme=` takes for a `--theme` choice.
fn theme_word(choice: crate::ui::theme::ThemeChoice) -> &'static str {
    use crate::ui::theme::ThemeChoice;
    match choice {
        ThemeChoice::Auto => "auto",
        ThemeChoice::Color => "color",
        ThemeChoice::Mono => "mono",
    }
}

/// The `completions` and `man` commands: generated from the definition, nothing read.
fn generate(command: &Command) -> Option<anyhow::Result<ExitCode>> {
    match command {
        Command::Completions { shell } => {
            generate::completions(*shell, &mut std::io::stdout().lock());
            Some(Ok(ExitCode::SUCCESS))
        }
        Command::Man { out: None } => Some(
            generate::man_page(&mut std::io::stdout().lock())
                .map(|()| ExitCode::SUCCESS)
                .or_else(|error| match error.kind() {
                    // `drill-cockpit man | head`: the reader went away, nothing is wrong.
                    std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                    _ => Err(anyhow::anyhow!("cannot print the man page: {error}")),
                }),
        ),
        Command::Man { out: Some(folder) } => Some(
            generate::man_pages(folder)
                .map(|pages| {
                    for page in pages {
                        println!("{}", page.display());
                    }
                    ExitCode::SUCCESS
                })
                .map_err(|error| anyhow::Error::new(CouldNotRun(error))),
        ),
        _ => None,
    }
}

/// The profile as it will be, checked whole before anything starts: with the
/// sandbox's own settings stood in for (they replace what was given, so they are not
/// judged), a mistyped key or value is refused before Postgres or a worker runs.
fn checked_profile(global: &GlobalArgs, sandbox: bool) -> anyhow::Result<Profile> {
    let mut global = global.clone();
    if sandbox {
        global
            .overrides
            .extend(crate::sandbox::placeholder_overrides());
    }
    load_profile(&global)
}

async fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(done) = cli.command.as_ref().and_then(generate) {
        return done;
    }
    if let Some(Command::Drill { command }) = &cli.command {
        return drill::command(command);
    }
    // The drills (the user's folders, --drill files) loaded and the one to run chosen
    // (--fault makes its own) before anything starts.
    match &mut cli.command {
        Some(Command::Run(args)) => {
            drill::init(&args.drill_files)?;
            let chosen = drill::chosen(
                args.scenario.as_deref(),
                &args.drill_files,
                args.fault.as_deref(),
            )?;
            args.scenario = Some(chosen.ok_or_else(|| {
                anyhow::anyhow!(
                    "run needs a drill: an id (`drill-cockpit drill list`), `all`, --drill FILE, or --fault SPEC for the ad-hoc drill"
                )
            })?);
        }
        None => {
            drill::init(&cli.drill_files)?;
            if let Some(id) = drill::chosen(
                cli.scenario.as_deref(),
                &cli.drill_files,
                cli.fault.as_deref(),
            )? {
                cli.scenario = Some(id);
            }
        }
        _ => {}
    }
    // An unknown scenario is refused before anything starts (no sandbox, no worker).
    if let Some(Command::Run(args)) = &cli.command
        && let Some(scenario) = args.scenario.as_deref()
        && scenario != "all"
        && scenario != crate::run::fleet::ID
    {
        crate::drill::scenario::find(scenario).map_err(CouldNotRun)?;
    }
    if let Some(Command::Run(args)) = &cli.command
        && args.events.is_some()
        && args.scenario.as_deref() != Some(crate::run::fleet::ID)
    {
        return Err(CouldNotRun(format!(
            "--events is for `run {}` (the fleet's burst); drill {} inserts its own events: drop --events",
            crate::run::fleet::ID,
            args.scenario.as_deref().unwrap_or_default()
        ))
        .into());
    }
    if let Some(scenario) = cli.scenario.take() {
        crate::drill::scenario::find(&scenario).map_err(CouldNotRun)?;
        cli.global
            .overrides
            .push(format!("cockpit.scenario={scenario}"));
    }
    // Checked with every other setting (a whole number from 1 to 64).
    let replicas = match &mut cli.command {
        Some(Command::Run(args)) => args.replicas.take().or(cli.replicas.take()),
        _ => cli.replicas.take(),
    };
    if let Some(replicas) = replicas {
        cli.global
            .overrides
            .push(format!("worker.replicas={replicas}"));
    }
    if let Some(theme) = cli.global.theme {
        cli.global
            .overrides
            .push(format!("cockpit.theme={}", theme_word(theme)));
    }
    // `replay` and `report` read files only, like `verify`: no profile needed.
    if let Some(Command::Replay {
        run_dir,
        speed,
        paused,
    }) = &cli.command
    {
        // The path first: a wrong one is said as such, terminal or not.
        crate::evidence::locate::one_run(run_dir, "replay", &snapshots_dir(&cli.global))?;
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            anyhow::bail!(
                "replay needs a terminal; for the files alone use `drill-cockpit report {} --html`",
                crate::sanitize::path(run_dir)
            );
        }
        let theme = match cli.global.theme {
            Some(choice) => choice,
            None => load_profile(&cli.global)
                .map(|profile| profile.theme)
                .unwrap_or_default(),
        };
        open_diagnostics("replay");
        return crate::replay::run(
            run_dir,
            crate::replay::ReplayOptions {
                speed: *speed,
                paused: *paused,
                theme: theme.resolve_from_process(),
            },
        )
        .await;
    }
    // The standalone gate needs no profile: its flags say everything.
    if matches!(cli.command, Some(Command::Gate(_)))
        && let Some(Command::Gate(args)) = cli.command.take()
    {
        open_diagnostics("gate");
        crate::faults::standalone::run(crate::faults::standalone::GateOptions {
            listen: args.listen,
            upstream: args.upstream,
            fault: args.fault,
            control: args.control,
            records: args.records,
            threads: args.threads.map(usize::from),
        })
        .await
        .map_err(CouldNotRun)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(Command::Report { run_dir, html, out }) = &cli.command {
        if !html {
            anyhow::bail!(
                "`report` writes HTML: pass --html (each run already carries its report.md)"
            );
        }
        crate::evidence::locate::one_run(run_dir, "report", &snapshots_dir(&cli.global))?;
        let written =
            crate::evidence::html::write(run_dir, out.as_deref()).map_err(anyhow::Error::msg)?;
        println!("{}", written.display());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(Command::Export { run_dir, out }) = &cli.command {
        crate::evidence::locate::one_run(run_dir, "export", &snapshots_dir(&cli.global))?;
        return export(run_dir, out.as_deref());
    }
    // `verify` grades files only: it must work without a valid profile for this machine.
    if let Some(Command::Verify {
        run_dir,
        json,
        compare,
        junit,
    }) = &cli.command
    {
        return verify(run_dir, *json, *compare, junit.as_deref());
    }
    // A report that could not be written is refused before any drill runs.
    if let Some(Command::Run(args)) = &cli.command {
        reports_of(args).check()?;
    }
    let wants_sandbox =
        cli.sandbox || matches!(&cli.command, Some(Command::Run(args)) if args.sandbox);
    let wants_prometheus =
        cli.prometheus || matches!(&cli.command, Some(Command::Run(args)) if args.prometheus);
    if wants_prometheus && !wants_sandbox {
        anyhow::bail!(
            "--prometheus starts a throwaway Prometheus in the sandbox only: add --sandbox; on the real stack set metrics.source=prometheus and metrics.prometheus_url (docs/PROMETHEUS.md)"
        );
    }
    if wants_prometheus {
        // Before anything starts (no cluster to clean up after a missing binary).
        crate::sandbox::prometheus::binary().map_err(CouldNotRun)?;
    }
    let given = checked_profile(&cli.global, wants_sandbox)?;
    if matches!(&cli.command, None | Some(Command::Run(_))) {
        open_diagnostics(if cli.command.is_none() {
            "cockpit"
        } else {
            "run"
        });
        crate::diagnostics::learn_secrets(given.redactor());
    }
    let sandbox = if wants_sandbox {
        let started = std::time::Instant::now();
        let database_url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty());
        // Its cluster is recorded beside the snapshots (the profile as given says where).
        let state = Some(crate::leftovers::StateFile::beside(&given.snapshots_dir));
        let sandbox = crate::sandbox::Sandbox::start_recorded(database_url, state)
            .await
            .map_err(|e| CouldNotRun(format!("the sandbox could not start: {e}")))?;
        // Started while Postgres starts: it takes a few seconds to apply its first
        // targets.
        if wants_prometheus {
            let overrides = sandbox.start_prometheus().await.map_err(|e| {
                CouldNotRun(format!("the sandbox's Prometheus could not start: {e}"))
            })?;
            cli.global.overrides.extend(overrides);
        }
        // A headless run needs its database now; the cockpit draws first and waits in
        // its setup (the Containers pane shows Postgres starting).
        if cli.command.is_some() {
            sandbox.ready().await.map_err(CouldNotRun)?;
        }
        eprintln!(
            "{} · up in {} ms: {}",
            crate::sandbox::BANNER,
            started.elapsed().as_millis(),
            sandbox.describe()
        );
        cli.global.overrides.extend(sandbox.overrides());
        Some(sandbox)
    } else {
        None
    };
    if sandbox.is_some() {
        // The sandbox never takes the contract's default worker ports: another cockpit
        // or worker may hold them, and its metrics must never be graded as ours.
        let chosen = load_profile(&cli.global)?;
        cli.global
            .overrides
            .extend(crate::sandbox::worker_port_overrides(&chosen.settings));
    }
    let mut profile = load_profile(&cli.global)?;
    if sandbox.is_some() {
        // The sandbox's database password is known only now.
        crate::diagnostics::learn_secrets(profile.redactor());
    }
    if let Some(sandbox) = &sandbox {
        // Prometheus applies new targets only every 5 s: worker 1's address (known now)
        // is in its targets file long before the worker starts.
        let _ = sandbox.set_prometheus_targets(&[format!("127.0.0.1:{}", profile.metrics_port)]);
    }
    profile.sandbox = sandbox;
    match cli.command {
        Some(Command::Config) => {
            print_config(&profile);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Db {
            command: DbCommand::Migrate,
        }) => {
            let pool = db::connect(&profile, 2).await?;
            let applied = db::migrate::apply(&pool).await.map_err(|error| {
                anyhow::anyhow!(
                    "migrating {} failed: {error}",
                    profile.redacted_database_url()
                )
            })?;
            if applied.is_empty() {
                println!("{}: schema is up to date", profile.redacted_database_url());
            } else {
                for version in applied {
                    println!("applied migration {version}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Insert(args)) => insert(&profile, args).await,
        Some(Command::Worker) => Ok(crate::worker::run(profile).await),
        Some(Command::Verify {
            run_dir,
            json,
            compare,
            junit,
        }) => verify(&run_dir, json, compare, junit.as_deref()),
        // Handled above, before the profile: they read files or the definition only.
        Some(
            Command::Report { .. }
            | Command::Gate(_)
            | Command::Export { .. }
            | Command::Replay { .. }
            | Command::Completions { .. }
            | Command::Drill { .. }
            | Command::Man { .. },
        ) => Ok(ExitCode::SUCCESS),
        Some(Command::Run(args)) => {
            let reports = reports_of(&args);
            // Without --op the scenario's own trigger (a delete for A, an upsert for B).
            let op = match args.op.as_deref() {
                Some(text) => Some(parse_op(Some(text), &profile)?),
                None => None,
            };
            let options = crate::run::RunOptions {
                scenario: args.scenario.unwrap_or_default(),
                duration: args.duration,
                op,
                keep_last: args.keep_last,
                recovery_timeout: args.recovery_timeout,
                control: args.control,
                inject_in_worker: args.inject == "worker",
            };
            if options.inject_in_worker {
                check_in_worker_injection(&options.scenario, &profile)?;
                if profile.replicas > 1 {
                    return Err(CouldNotRun(format!(
                        "--inject worker with {} replicas: upstream's switches go into worker 1 only, so the other replicas would process the drill's events clean; drop --inject worker (the fault from outside reaches every replica) or run with --replicas 1",
                        profile.replicas
                    ))
                    .into());
                }
            }
            if options.scenario == crate::run::fleet::ID {
                // Contention needs a fleet: 8 workers unless worker.replicas was set.
                let replicas = match profile.settings.origin("worker.replicas") {
                    Some(crate::config::Origin::Default) | None => 8,
                    Some(_) => profile.replicas,
                };
                if replicas < 2 {
                    return Err(CouldNotRun(format!(
                        "`run {}` with {replicas} worker: contention needs contenders; pass --replicas 2 or more (default 8)",
                        crate::run::fleet::ID
                    ))
                    .into());
                }
                let fleet = crate::run::fleet::FleetOptions::new(
                    replicas,
                    args.events.unwrap_or(2000) as usize,
                );
                return Ok(ExitCode::from(
                    crate::run::fleet::run(profile, fleet).await?,
                ));
            }
            if options.scenario == "all" {
                return Ok(ExitCode::from(
                    crate::run::all::run_all(profile, options, &reports).await,
                ));
            }
            let started = std::time::Instant::now();
            let scenario = options.scenario.clone();
            let outcome = crate::run::run(profile, options).await?;
            Ok(ExitCode::from(reports.one(&scenario, outcome, started)))
        }
        None => {
            // An engine that cannot be used (ssh, a missing context) stays unusable for
            // the whole session: said once, before drawing, never swapped for another.
            if profile.sandbox.is_none()
                && let Err(error) = &profile.docker_engine
            {
                return Err(CouldNotRun(format!("no Docker engine: {error}")).into());
            }
            if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                anyhow::bail!(
                    "the cockpit needs a terminal; for a headless drill use `drill-cockpit run es_down_connect`"
                );
            }
            crate::cockpit::terminal::run(
                profile,
                crate::cockpit::engine::StartOptions { up: cli.up },
            )
            .await
        }
    }
}

/// `--inject worker` needs a worker that has upstream's switches (not the bundled one)
/// and, for one drill, a drill that has such a switch.
fn check_in_worker_injection(scenario: &str, profile: &Profile) -> anyhow::Result<()> {
    if profile.worker_command.is_empty() {
        anyhow::bail!(
            "--inject worker: the bundled worker has no in-worker fault switches (upstream's OUTBOX_EXPERIMENT_*); drop --inject worker (the default injects from outside), or set worker.command to a worker that has them"
        );
    }
    if scenario != "all" {
        let drill = crate::drill::scenario::find(scenario).map_err(CouldNotRun)?;
        if drill.worker_switches.is_empty() {
            anyhow::bail!(
                "--inject worker: upstream has no in-worker switch for {scenario}; it is injected from outside only (drop --inject worker). In-worker switches exist for es_429_inject, es_bulk_partial, db_claim_contention and stuck_reclaim"
            );
        }
    }
    Ok(())
}

/// Writes to stdout without panicking when the reader went away (`| head`).
fn print_config(profile: &Profile) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let rows = profile.settings.describe();
    let width = rows.iter().map(|(key, _, _)| key.len()).max().unwrap_or(0);
    for (key, value, origin) in rows {
        let origin = match origin {
            Origin::Default => "default".to_string(),
            other => other.to_string(),
        };
        if writeln!(out, "{key:<width$}  {value:<48}  ({origin})").is_err() {
            return;
        }
    }
    // Not a setting of ours: Docker's own variables and config decide it.
    let (engine, origin) = match &profile.docker_engine {
        Ok(engine) => (engine.host.clone(), engine.origin.to_string()),
        Err(error) => ("none".to_string(), error.to_string()),
    };
    let _ = writeln!(out, "{:<width$}  {engine:<48}  ({origin})", "docker engine");
}

/// `--op`, else the profile's `OUTBOX_OP`.
fn parse_op(flag: Option<&str>, profile: &Profile) -> anyhow::Result<Op> {
    let text = flag.unwrap_or(&profile.default_op);
    Op::parse(text)
        .ok_or_else(|| anyhow::anyhow!("--op {text:?} is not an outbox op: use upsert or delete"))
}

async fn insert(profile: &Profile, args: InsertArgs) -> anyhow::Result<ExitCode> {
    let op = parse_op(args.op.as_deref(), profile)?;
    let pool = db::connect(profile, 2).await?;
    db::schema::check(&pool)
        .await
        .map_err(|error| anyhow::anyhow!("{}: {error}", profile.redacted_database_url()))?;
    for _ in 0..args.count {
        let event = NewEvent {
            op,
            entity_id: args.entity_id.unwrap_or_else(Uuid::new_v4),
            version: args.version,
            traceparent: None,
        };
        let id = db::outbox::insert_event(&pool, &event)
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "{} ({})",
                    db::schema::explain("the insert", &error),
                    profile.redacted_database_url()
                )
            })?;
        println!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `run`'s --json and --junit.
fn reports_of(args: &RunArgs) -> crate::ci::Reports {
    crate::ci::Reports {
        json: args.json,
        junit: args.junit.clone(),
    }
}

/// `export`: prints the bundle's path (and on stderr what the walk of the run skipped).
fn export(run_dir: &std::path::Path, out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let exported = crate::evidence::bundle::export(run_dir, out).map_err(CouldNotRun)?;
    for skipped in &exported.skipped {
        eprintln!("drill-cockpit: warning: not in the bundle: {skipped}");
    }
    println!("{}", exported.path.display());
    Ok(ExitCode::SUCCESS)
}

/// Exit code 0 when every graded run passed, 1 when one failed or is a control run, 3
/// (a [`crate::exit::CouldNotRun`]) when the path could not be graded.
fn verify(
    path: &std::path::Path,
    json: bool,
    compare: bool,
    junit: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let passed = crate::verify::verify(path, json, compare, junit)?;
    Ok(ExitCode::from(if passed {
        crate::exit::PASSED
    } else {
        crate::exit::FAILED
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_parse_in_their_units_and_refuse_out_of_range() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(
            parse_duration("1d").unwrap_err(),
            "\"1d\" is not a duration: use e.g. 20s, 1m or 1500ms"
        );
        for text in ["1e30s", "-1s", "NaN", "inf", "86401", "1e308m"] {
            let error = parse_duration(text).unwrap_err();
            assert!(
                error.contains(&format!("{text:?} is out of range")),
                "{error}"
            );
        }
    }

    #[test]
    fn replay_speed_is_from_a_quarter_to_960() {
        assert_eq!(parse_speed("4"), Ok(4.0));
        for text in ["0", "961", "NaN", "inf", "fast"] {
            assert!(parse_speed(text).unwrap_err().contains(text), "{text}");
        }
    }
}
