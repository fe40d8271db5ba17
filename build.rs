//! Stamps the build with the commit it was made from, for `drill-cockpit --version`:
//! `0.1.0 (42c7555-dirty 2026-11-30)`, or `0.1.0 (unknown commit)` when the source is
//! not a git checkout of its own (a tarball, a vendored copy) or git is not installed.
//!
//! Cargo reruns this script only when the commit can have changed (the checkout's HEAD,
//! the branch it points to, packed refs) or when the crate is rebuilt anyway (its own
//! sources): so `-dirty` is as of the last build of changed sources, and nothing else
//! (a `git status`, a fetch of other branches) costs a rebuild.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let stamp = match Checkout::of(&manifest_dir) {
        Some(checkout) => {
            checkout.watch();
            checkout.describe()
        }
        None => "unknown commit".to_string(),
    };
    println!("cargo:rustc-env=DRILL_COCKPIT_VERSION={version} ({stamp})");
    // The crate's own inputs: a rebuild of the crate refreshes `-dirty` at no extra cost.
    for input in ["build.rs", "Cargo.toml", "Cargo.lock", "src", "assets"] {
        println!("cargo:rerun-if-changed={input}");
    }
}

/// The git checkout whose top is this crate's folder.
struct Checkout {
    top: PathBuf,
    /// Where this checkout's HEAD lives (`.git`, or `.git/worktrees/<name>` of a worktree).
    git_dir: PathBuf,
    /// Where refs and packed-refs live (the main `.git` for every worktree).
    common_dir: PathBuf,
}

impl Checkout {
    fn of(manifest_dir: &Path) -> Option<Checkout> {
        let lines = git(
            manifest_dir,
            &[
                "rev-parse",
                "--show-toplevel",
                "--absolute-git-dir",
                "--git-common-dir",
            ],
        )?;
        let mut lines = lines.lines();
        let top = PathBuf::from(lines.next()?);
        let git_dir = PathBuf::from(lines.next()?);
        let common = PathBuf::from(lines.next()?);
        // A tarball unpacked inside some other repository is not that repository's
        // commit: only a checkout whose top is this crate counts.
        if top.canonicalize().ok()? != manifest_dir.canonicalize().ok()? {
            return None;
        }
        let common_dir = if common.is_absolute() {
            common
        } else {
            manifest_dir.join(common)
        };
        Some(Checkout {
            top,
            git_dir,
            common_dir,
        })
    }

    /// Asks cargo to rerun this script when HEAD moves: HEAD itself (a checkout, a
    /// detached HEAD), the branch it points to (a commit), and packed-refs (where a
    /// branch's commit lives after `git gc`).
    fn watch(&self) {
        println!(
            "cargo:rerun-if-changed={}",
            self.git_dir.join("HEAD").display()
        );
        if let Some(branch) = git(&self.top, &["symbolic-ref", "-q", "HEAD"]) {
            let branch = branch.trim();
            println!(
                "cargo:rerun-if-changed={}",
                self.common_dir.join(branch).display()
            );
        }
        let packed = self.common_dir.join("packed-refs");
        if packed.exists() {
            println!("cargo:rerun-if-changed={}", packed.display());
        }
    }

    /// `42c7555 2026-11-30`, `42c7555-dirty 2026-11-30` with uncommitted changes.
    fn describe(&self) -> String {
        let Some(head) = git(&self.top, &["log", "-1", "--format=%h %cs"]) else {
            // A repository with no commit yet.
            return "unknown commit".to_string();
        };
        let mut words = head.split_whitespace();
        let (Some(commit), Some(date)) = (words.next(), words.next()) else {
            return "unknown commit".to_string();
        };
        // No optional locks: a build never rewrites the index under a running git.
        let dirty = git(&self.top, &["--no-optional-locks", "status", "--porcelain"])
            .is_some_and(|changes| !changes.trim().is_empty());
        format!("{commit}{} {date}", if dirty { "-dirty" } else { "" })
    }
}

/// Git's output when it ran and succeeded; `None` without git or outside a repository.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}
