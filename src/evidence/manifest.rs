//! `manifest.json`: every file of a run with its size and sha256, so a copied run can
//! be checked for completeness and tampering.

use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub fn manifest(run_dir: &Path, exclude: &[&str]) -> Value {
    let mut files = Vec::new();
    collect(run_dir, run_dir, exclude, &mut files);
    files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    json!({"generated_at": chrono::Utc::now().to_rfc3339(), "files": files})
}

fn collect(root: &Path, dir: &Path, exclude: &[&str], out: &mut Vec<Value>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // staging directories of a freeze in progress
        }
        if path.is_dir() {
            collect(root, &path, exclude, out);
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .map(|p| p.display().to_string())
            .unwrap_or(name);
        if exclude.contains(&relative.as_str()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        out.push(
            json!({"path": relative, "size": bytes.len(), "sha256": hex(&Sha256::digest(&bytes))}),
        );
    }
}

/// Checks a run against its `manifest.json`: every listed file present with its size and
/// sha256, and no file added after it. Returns one problem per file, naming it.
pub fn verify(run_dir: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(run_dir.join("manifest.json"))
        .map_err(|e| format!("manifest.json: {e}"))?;
    let recorded: Value =
        serde_json::from_str(&text).map_err(|e| format!("manifest.json is not JSON: {e}"))?;
    let listed: Vec<(String, u64, String)> = recorded["files"]
        .as_array()
        .ok_or("manifest.json lists no files")?
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("").to_string(),
                f["size"].as_u64().unwrap_or(u64::MAX),
                f["sha256"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let now = manifest(run_dir, &["manifest.json"]);
    let mut problems = Vec::new();
    let current: Vec<(String, u64, String)> = now["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|f| {
                    (
                        f["path"].as_str().unwrap_or("").to_string(),
                        f["size"].as_u64().unwrap_or(0),
                        f["sha256"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for (path, size, sha) in &listed {
        match current.iter().find(|(p, _, _)| p == path) {
            None => problems.push(format!("{path}: listed in manifest.json but missing")),
            Some((_, now_size, now_sha)) if now_size != size || now_sha != sha => problems.push(
                format!("{path}: changed since manifest.json ({size} → {now_size} bytes)"),
            ),
            Some(_) => {}
        }
    }
    for (path, _, _) in &current {
        if !listed.iter().any(|(p, _, _)| p == path) {
            problems.push(format!("{path}: added after manifest.json"));
        }
    }
    Ok(problems)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_files_with_size_and_sha256() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("_metrics")).unwrap();
        std::fs::write(dir.path().join("_metrics/metrics-before.txt"), "abc").unwrap();
        std::fs::create_dir(dir.path().join(".staging-x")).unwrap();
        std::fs::write(dir.path().join(".staging-x/0"), "no").unwrap();
        let value = manifest(dir.path(), &[]);
        let files = value["files"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0]["path"], "_metrics/metrics-before.txt");
        assert_eq!(files[0]["size"], 3);
        assert_eq!(
            files[0]["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_names_changed_missing_and_added_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("b.txt"), "b").unwrap();
        std::fs::write(
            dir.path().join("manifest.json"),
            manifest(dir.path(), &[]).to_string(),
        )
        .unwrap();
        assert_eq!(verify(dir.path()).unwrap(), Vec::<String>::new());
        std::fs::write(dir.path().join("a.txt"), "A!").unwrap();
        std::fs::remove_file(dir.path().join("b.txt")).unwrap();
        std::fs::write(dir.path().join("c.txt"), "c").unwrap();
        let problems = verify(dir.path()).unwrap();
        assert_eq!(
            problems,
            vec![
                "a.txt: changed since manifest.json (1 → 2 bytes)",
                "b.txt: listed in manifest.json but missing",
                "c.txt: added after manifest.json",
            ]
        );
    }
}
