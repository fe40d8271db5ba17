use std::process::ExitCode;

fn main() -> ExitCode {
    drill_cockpit::tls::install_provider();
    drill_cockpit::cli::main()
}
