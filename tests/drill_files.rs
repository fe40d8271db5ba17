//! Drills are files, and nothing else: every built-in drill is its file under
//! assets/drills/ (what `drill show` prints, read back to the same drill, and the same
//! again after being written out by the schema); no drill is made in Rust outside the
//! file reader; a user's file overrides a built-in one and says so; a broken file gets
//! its file:line:column and exit 2, before anything starts. All cheap: the real binary
//! on files, no database.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use drill_cockpit::drill::{catalog, file, scenario};

/// A scratch folder as the working directory, with its own XDG folders.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
            .args(args)
            .current_dir(self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn every_built_in_drill_is_its_file_shown_and_round_tripped() {
    let scratch = Scratch::new();
    let lab = scenario::lab();
    assert_eq!(lab.len(), 9);
    for drill in lab {
        let on_disk =
            std::fs::read_to_string(repo(&format!("assets/drills/{}.toml", drill.id))).unwrap();
        assert_eq!(
            drill.file, on_disk,
            "{}: the embedded file is the asset",
            drill.id
        );
        let shown = scratch.run(&["drill", "show", drill.id]);
        assert!(shown.status.success(), "{}", text(&shown.stderr));
        assert_eq!(text(&shown.stdout), on_disk, "drill show {}", drill.id);
        // What `drill show` prints makes the very same drill again.
        let again = file::load("shown.toml", &text(&shown.stdout)).unwrap();
        assert_eq!(again, drill, "{}", drill.id);
        // Written out by the schema (comments lost) and read back: the same drill, so
        // everything the drill is lives in the schema's keys.
        let parsed = file::parse("shown.toml", drill.file).unwrap();
        let written = toml::to_string(&parsed).unwrap();
        let mut round = file::load("written.toml", &written).unwrap().clone();
        round.file = drill.file;
        assert_eq!(&round, drill, "{} written as\n{written}", drill.id);
    }
    // Nothing else ships as a built-in: the nine and the ad-hoc template.
    let mut shipped: Vec<String> = std::fs::read_dir(repo("assets/drills"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    let mut expected: Vec<String> = catalog::builtins()
        .iter()
        .map(|d| format!("{}.toml", d.id))
        .chain(["adhoc.toml".to_string()])
        .collect();
    expected.sort();
    assert_eq!(shipped, expected);
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_drill_is_made_in_rust_outside_the_file_reader() {
    let mut files = Vec::new();
    rust_files(&repo("src"), &mut files);
    let reader = repo("src/drill/file.rs");
    // A struct literal: `Scenario {` then a field given (`id: …` or `id,`).
    let literal = regex::Regex::new(r"\bScenario \{\s*\n\s*[a-z_]+(: |,)").unwrap();
    let makers: Vec<String> = files
        .iter()
        .filter(|path| **path != reader)
        .filter(|path| literal.is_match(&std::fs::read_to_string(path).unwrap()))
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        makers.is_empty(),
        "a Scenario is built outside drill/file.rs: {makers:?}"
    );
}

#[test]
fn a_broken_file_gets_its_place_and_exit_2_before_anything_starts() {
    let scratch = Scratch::new();
    let good = catalog::builtin("es_429_inject").unwrap().file;
    let broken = good.replacen("\ntitle = \"", "\ntittle = \"", 1);
    let line = broken
        .lines()
        .position(|l| l.starts_with("tittle"))
        .unwrap()
        + 1;
    std::fs::write(scratch.path().join("broken.toml"), &broken).unwrap();
    let checked = scratch.run(&["drill", "check", "broken.toml"]);
    assert_eq!(checked.status.code(), Some(2));
    let stderr = text(&checked.stderr);
    assert!(
        stderr.contains(&format!(
            "broken.toml:{line}:1: unknown key `tittle` (did you mean `title`?)"
        )),
        "{stderr}"
    );
    // A run of it stops at the same place, before any database or worker.
    let ran = scratch.run(&["run", "--sandbox", "--drill", "broken.toml"]);
    assert_eq!(ran.status.code(), Some(2));
    assert!(text(&ran.stderr).contains(&format!("broken.toml:{line}:1:")));
    assert!(
        !text(&ran.stderr).contains("SANDBOX"),
        "{}",
        text(&ran.stderr)
    );
    // So does a fault the gate cannot do.
    let fault = scratch.run(&["run", "--sandbox", "--fault", "abort 429 on bluk"]);
    assert_eq!(fault.status.code(), Some(2));
    assert!(
        text(&fault.stderr).contains("--fault: 'bluk' is not an operation (did you mean 'bulk'?)"),
        "{}",
        text(&fault.stderr)
    );
    // The documented example is clean.
    let example = repo("docs/drills/es_bulk_503.toml");
    let checked = scratch.run(&["drill", "check", example.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).contains("drill `es_bulk_503` is valid"));
}

#[test]
fn a_user_drill_overrides_the_built_in_of_its_id_and_says_so() {
    let scratch = Scratch::new();
    let folder = scratch.path().join("config/drill-cockpit/drills");
    std::fs::create_dir_all(&folder).unwrap();
    let mine = catalog::builtin("es_429_inject")
        .unwrap()
        .file
        .replace("gate = \"abort 429\"", "gate = \"abort 429 every 2\"");
    std::fs::write(folder.join("mine.toml"), &mine).unwrap();
    std::fs::create_dir(scratch.path().join("drills")).unwrap();
    std::fs::copy(
        repo("docs/drills/es_bulk_503.toml"),
        scratch.path().join("drills/es_bulk_503.toml"),
    )
    .unwrap();

    let listed = scratch.run(&["drill", "list"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let stdout = text(&listed.stdout);
    let line_of = |id: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} not listed:\n{stdout}"))
            .to_string()
    };
    assert!(
        line_of("es_429_inject").contains("mine.toml (overrides built-in)"),
        "{stdout}"
    );
    assert!(line_of("es_down_connect").contains("built-in"), "{stdout}");
    assert!(
        line_of("es_bulk_503").contains("drills/es_bulk_503.toml"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 10, "{stdout}");
    assert!(
        text(&listed.stderr).contains("drill `es_429_inject` from ")
            && text(&listed.stderr).contains("overrides the built-in one"),
        "{}",
        text(&listed.stderr)
    );
    let shown = scratch.run(&["drill", "show", "es_429_inject"]);
    assert_eq!(text(&shown.stdout), mine);
}
