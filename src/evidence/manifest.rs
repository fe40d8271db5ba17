//! `manifest.json`: every file of a run with its size and sha256, so a copied run can
//! be checked for completeness and tampering.

use std::path::Path;

use serde_json::{Value, json};

use super::safe_read::{HASH_BUDGET, HASH_CAP, RunReader};

/// Every regular file of the run with its size and sha256. Links are not followed and
/// special files not opened: they, and anything cut or left out by the walk's limits,
/// are listed under `skipped` (present only when something was).
pub fn manifest(run_dir: &Path, exclude: &[&str]) -> Value {
    let (files, skipped) = listing(run_dir, exclude);
    let mut value = json!({"generated_at": chrono::Utc::now().to_rfc3339(), "files": files});
    if !skipped.is_empty() {
        value["skipped"] = json!(skipped);
    }
    value
}

/// The files (sorted by path) and what was skipped or cut, in words.
fn listing(run_dir: &Path, exclude: &[&str]) -> (Vec<Value>, Vec<String>) {
    let reader = RunReader::with_budget(run_dir, HASH_BUDGET);
    let mut files = Vec::new();
    for rel in reader.walk() {
        let relative = rel.display().to_string();
        if exclude.contains(&relative.as_str()) {
            continue;
        }
        if let Some((sha256, size)) = reader.sha256(&rel, HASH_CAP) {
            files.push(json!({"path": relative, "size": size, "sha256": sha256}));
        }
    }
    files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    (files, reader.problems())
}

/// Checks a run against its `manifest.json`: every listed file present with its size and
/// sha256, and no file added after it. Returns one problem per file, naming it.
pub fn verify(run_dir: &Path) -> Result<Vec<String>, String> {
    let reader = RunReader::new(run_dir);
    let recorded: Value = reader
        .json_or_error(Path::new("manifest.json"))
        .ok_or_else(|| {
            let why = reader.problems().join("; ");
            format!(
                "manifest.json: not read ({})",
                if why.is_empty() { "missing" } else { &why }
            )
        })?
        .map_err(|e| format!("manifest.json is cut off or corrupt (not JSON: {e})"))?;
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
    let (now, mut problems) = listing(run_dir, &["manifest.json"]);
    let current: Vec<(String, u64, String)> = now
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("").to_string(),
                f["size"].as_u64().unwrap_or(0),
                f["sha256"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
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
