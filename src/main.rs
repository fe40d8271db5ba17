use std::process::ExitCode;

fn main() -> ExitCode {
    drill_cockpit::cli::main()
}
