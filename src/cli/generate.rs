//! `drill-cockpit completions <shell>` and `drill-cockpit man`: generated from the same
//! clap definition the program parses, so they never drift from the real flags.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// The program's name as the shell and man know it.
const BIN: &str = "drill-cockpit";

/// The completion script for `shell`, on stdout (`source <(drill-cockpit completions bash)`).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), BIN, out);
}

/// The top command's man page, on `out` (`drill-cockpit man | man -l -`).
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// One page per command (`drill-cockpit.1`, `drill-cockpit-run.1`, …) into `folder`,
/// which must exist; returns the pages written.
pub fn man_pages(folder: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    if !folder.is_dir() {
        return Err(format!(
            "{} is not a folder: create it first (mkdir -p {}), or leave out --out to print the page",
            crate::sanitize::path(folder),
            crate::sanitize::path(folder)
        ));
    }
    clap_mangen::generate_to(Cli::command(), folder).map_err(|error| {
        format!(
            "cannot write the man pages into {} ({error}): choose a folder you can write",
            crate::sanitize::path(folder)
        )
    })?;
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    page_names(&command, &mut |name| written.push(folder.join(name)));
    Ok(written)
}

/// The file name of this command's page and of each subcommand's below it, as
/// `clap_mangen` names them (`drill-cockpit-db-migrate.1`).
fn page_names(command: &clap::Command, found: &mut dyn FnMut(String)) {
    found(clap_mangen::Man::new(command.clone()).get_filename());
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        page_names(sub, found);
    }
}
