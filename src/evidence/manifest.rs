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
}
