//! `drill check|list|show`, and what `--drill FILE` and `--fault SPEC` do before a run
//! or the cockpit starts: the drills loaded, the one to run chosen.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::drill::catalog::{self, Origin};

#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Check a drill file (docs/DRILLS.md): each mistake at its file:line:column with
    /// what would be right there. Exit 0 when it loads, 2 when it does not.
    Check {
        /// The drill's TOML file.
        file: PathBuf,
    },
    /// Every drill with where it comes from: built-in, or a file (and whether it
    /// overrides a built-in one).
    List,
    /// Print the effective file of a drill (what a run of it records as _drill.toml).
    Show {
        /// The drill's id, e.g. es_429_inject.
        id: String,
    },
}

/// Runs a `drill` subcommand; a file that does not load ends it with exit 2.
pub fn command(command: &DrillCommand) -> anyhow::Result<ExitCode> {
    match command {
        DrillCommand::Check { file } => check(file),
        DrillCommand::List => {
            init(&[])?;
            let entries = catalog::entries();
            let width = entries.iter().map(|e| e.drill.id.len()).max().unwrap_or(0);
            let mut out = String::new();
            for entry in entries {
                out.push_str(&format!(
                    "{:<width$}  {:<40}  {}\n",
                    entry.drill.id,
                    entry.origin.to_string(),
                    entry.drill.title
                ));
            }
            print_all(&out);
            Ok(ExitCode::SUCCESS)
        }
        DrillCommand::Show { id } => {
            init(&[])?;
            // The ad-hoc drill is a template (`--fault` without a drill), not in the list.
            if id == "adhoc" && catalog::origin(id).is_none() {
                print_all(catalog::ADHOC);
                return Ok(ExitCode::SUCCESS);
            }
            let drill = crate::drill::scenario::find(id).map_err(anyhow::Error::msg)?;
            print_all(drill.file);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `drill check FILE`.
fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let drill = catalog::load_file(path).map_err(anyhow::Error::msg)?;
    let overrides = catalog::builtin(drill.id)
        .map(|_| " (loaded from ./drills/ or --drill, it overrides the built-in drill of that id)")
        .unwrap_or_default();
    println!(
        "{}: drill `{}` is valid: {}{overrides}",
        crate::sanitize::path(path),
        drill.id,
        drill.title
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout without panicking when the reader went away (`| head`).
fn print_all(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Loads the drills this process uses (the user's folders and `files`), saying on
/// stderr which one replaced a built-in.
pub fn init(files: &[PathBuf]) -> anyhow::Result<()> {
    for note in catalog::init(files).map_err(anyhow::Error::msg)? {
        eprintln!("drill-cockpit: {note}");
    }
    Ok(())
}

/// The drill a run or the cockpit starts with: `id`, else the last `--drill` file's;
/// with `--fault`, that drill (or the ad-hoc one) with its gate's fault replaced, added
/// to the catalog under its id. `None` when nothing names a drill.
pub fn chosen(
    id: Option<&str>,
    files: &[PathBuf],
    fault: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let from_file = match files.last() {
        Some(path) => Some(catalog::load_file(path).map_err(anyhow::Error::msg)?.id),
        None => None,
    };
    let id = id.or(from_file);
    let Some(line) = fault else {
        return Ok(id.map(str::to_string));
    };
    if id == Some("all") {
        anyhow::bail!(
            "--fault runs one drill: name one (run es_429_inject --fault \"{line}\"), or none for the ad-hoc drill"
        );
    }
    let (base, base_origin) = match id {
        Some(id) => (
            crate::drill::scenario::find(id).map_err(anyhow::Error::msg)?,
            catalog::origin(id).map_or_else(|| "built-in".to_string(), |o| o.to_string()),
        ),
        None => (
            crate::drill::file::load("assets/drills/adhoc.toml", catalog::ADHOC)
                .map_err(|error| anyhow::anyhow!("the ad-hoc drill does not load: {error}"))?,
            "the ad-hoc drill".to_string(),
        ),
    };
    let text = crate::drill::file::with_fault(base, line).map_err(anyhow::Error::msg)?;
    let drill = crate::drill::file::load(&format!("{} with --fault", base.id), &text)
        .map_err(|error| anyhow::anyhow!("--fault \"{line}\": {error}"))?;
    catalog::add(
        drill,
        Origin::Fault {
            base: base_origin,
            line: line.trim().to_string(),
        },
    );
    Ok(Some(drill.id.to_string()))
}
