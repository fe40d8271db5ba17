//! Running the compose tool the user has: the `docker compose` plugin (v2), else the
//! separate `docker-compose` (v1, Debian's package). The project name always goes on
//! the command line (`-p`): v1 rejects a top-level `name:` in the file. A failed `up`
//! is told in words: which image could not be pulled, that its registry was
//! unreachable, and what to do. Every child runs against the process's one engine
//! ([`Engine::command`]), never against whatever its own environment would pick.

use std::path::Path;

use super::Engine;

/// A compose tool: what the user would type, the program, and its leading arguments.
struct Tool {
    name: &'static str,
    program: &'static str,
    leading: &'static [&'static str],
}

const TOOLS: [Tool; 2] = [
    Tool {
        name: "docker compose",
        program: "docker",
        leading: &["compose"],
    },
    Tool {
        name: "docker-compose",
        program: "docker-compose",
        leading: &[],
    },
];

/// `up -d` of the project on `engine`; returns which tool ran. v1 cannot `--wait`: the
/// caller waits for health itself, for both.
pub async fn up(engine: &Engine, file: &Path, project: &str) -> Result<&'static str, String> {
    let file_text = file.display().to_string();
    let mut errors = Vec::new();
    for tool in &TOOLS {
        let mut args: Vec<&str> = tool.leading.to_vec();
        args.extend(["-f", &file_text, "-p", project, "up", "-d"]);
        let mut command = tokio::process::Command::from(engine.command(tool.program));
        match command.args(&args).output().await {
            Ok(output) if output.status.success() => return Ok(tool.name),
            Ok(output) => {
                let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                if is_missing_tool(&stderr) {
                    errors.push(format!("{}: not installed", tool.name));
                    continue;
                }
                // This tool exists and tried: its answer is the one that matters.
                return Err(explain_up_failure(tool.name, file, &stderr));
            }
            Err(error) => errors.push(format!("{}: {error}", tool.name)),
        }
    }
    Err(format!(
        "no compose tool could run ({}): install the Docker compose plugin or docker-compose",
        errors.join("; ")
    ))
}

/// `docker` without the compose plugin answers like this (v20: "unknown command",
/// older: "is not a docker command", newer: "unknown shorthand flag: 'f'").
fn is_missing_tool(stderr: &str) -> bool {
    stderr.contains("is not a docker command")
        || stderr.contains("unknown command: docker compose")
        || stderr.contains("unknown shorthand flag: 'f'")
}

/// Words a pull failure uses when the registry cannot be reached or has no such image.
const UNREACHABLE: [&str; 9] = [
    "dial tcp",
    "no such host",
    "Temporary failure in name resolution",
    "i/o timeout",
    "connection refused",
    "TLS handshake timeout",
    "network is unreachable",
    "context deadline exceeded",
    "Client.Timeout exceeded",
];
const NOT_FOUND: [&str; 4] = [
    "pull access denied",
    "manifest unknown",
    "not found: manifest",
    "repository does not exist",
];

/// The images a compose file names (`image:` lines), in order.
pub fn images_of(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("image:"))
        .map(|image| image.trim().trim_matches(['"', '\'']).to_string())
        .filter(|image| !image.is_empty())
        .collect()
}

/// The registry host of an image reference (`docker.io` when it names none).
fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// A failed `up` in words: the image that could not be pulled and why, else the tool's
/// own last lines.
pub fn explain_up_failure(tool: &str, file: &Path, stderr: &str) -> String {
    let last_lines: Vec<&str> = stderr.lines().rev().take(3).collect();
    let detail = last_lines.into_iter().rev().collect::<Vec<_>>().join(" / ");
    let unreachable = UNREACHABLE.iter().any(|w| stderr.contains(w));
    let not_found = NOT_FOUND.iter().any(|w| stderr.contains(w));
    if !(unreachable || not_found) {
        return format!("{tool} up -d failed: {detail}");
    }
    let images = images_of(file);
    // The image named in the error (v2: "Error response … for IMAGE"; v1: "Pulling svc (IMAGE)").
    let image = images
        .iter()
        .find(|image| stderr.contains(image.as_str()))
        .or_else(|| {
            images
                .iter()
                .find(|image| stderr.contains(registry_of(image)))
        })
        .cloned();
    let what = match &image {
        Some(image) => format!("image {image}"),
        None => format!("an image of {}", file.display()),
    };
    let why = match (&image, unreachable) {
        (Some(image), true) => format!("the registry {} was unreachable", registry_of(image)),
        (None, true) => "its registry was unreachable".to_string(),
        (_, false) => "the registry has no such image (or refused access)".to_string(),
    };
    format!(
        "{tool} could not pull {what}: {why} ({detail}). On a machine with internet, `docker pull` it and `docker save` it; here, `docker load` it and press U again. Or point the cockpit at a running stack (DATABASE_URL, ELASTIC_URL, JAEGER_URL, COMPOSE_PROJECT_NAME)"
    )
}

/// Runs `config -q` of the file with each compose tool installed, on `engine`: (tool,
/// Ok or its error). A tool that is not installed is left out.
pub fn check_file(
    engine: &Engine,
    file: &Path,
    project: &str,
) -> Vec<(&'static str, Result<(), String>)> {
    let file_text = file.display().to_string();
    let mut results = Vec::new();
    for tool in &TOOLS {
        let mut args: Vec<&str> = tool.leading.to_vec();
        args.extend(["-f", &file_text, "-p", project, "config", "-q"]);
        let Ok(output) = engine.command(tool.program).args(&args).output() else {
            continue;
        };
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if is_missing_tool(&stderr) {
            continue;
        }
        results.push((
            tool.name,
            if output.status.success() {
                Ok(())
            } else {
                Err(stderr.trim().to_string())
            },
        ));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compose_file() -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "services:\n  postgres:\n    image: postgres:16.6\n  es:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.15.3\n",
        )
        .unwrap();
        file
    }

    #[test]
    fn a_v1_pull_failure_names_the_image_and_the_unreachable_registry() {
        let file = compose_file();
        let stderr = "Creating network \"x_default\" with the default driver\nPulling es (docker.elastic.co/elasticsearch/elasticsearch:8.15.3)...\nERROR: Get \"https://docker.elastic.co/v2/\": dial tcp: lookup docker.elastic.co on 10.0.0.2:53: no such host\n";
        let text = explain_up_failure("docker-compose", file.path(), stderr);
        assert!(
            text.starts_with("docker-compose could not pull image docker.elastic.co/elasticsearch/elasticsearch:8.15.3: the registry docker.elastic.co was unreachable"),
            "{text}"
        );
        assert!(text.contains("docker load"), "{text}");
    }

    #[test]
    fn a_v2_pull_failure_of_a_hub_image_names_docker_io() {
        let file = compose_file();
        let stderr = " postgres Pulling \n postgres Error Get \"https://registry-1.docker.io/v2/\": net/http: TLS handshake timeout\nError response from daemon: Get \"https://registry-1.docker.io/v2/\": net/http: TLS handshake timeout\n";
        let text = explain_up_failure("docker compose", file.path(), stderr);
        assert!(
            text.contains(
                "could not pull image postgres:16.6: the registry docker.io was unreachable"
            ),
            "{text}"
        );
    }

    #[test]
    fn other_failures_keep_the_tools_words() {
        let file = compose_file();
        let text = explain_up_failure(
            "docker compose",
            file.path(),
            "Error: port is already allocated\n",
        );
        assert_eq!(
            text,
            "docker compose up -d failed: Error: port is already allocated"
        );
    }

    #[test]
    fn registries_are_read_off_image_references() {
        assert_eq!(registry_of("postgres:16.6"), "docker.io");
        assert_eq!(registry_of("jaegertracing/all-in-one:1.62.0"), "docker.io");
        assert_eq!(registry_of("127.0.0.1:1/missing:1"), "127.0.0.1:1");
        assert_eq!(
            registry_of("docker.elastic.co/elasticsearch/elasticsearch:8.15.3"),
            "docker.elastic.co"
        );
    }
}
