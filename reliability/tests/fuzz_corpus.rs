//! Replays every committed fuzz input through its target's check from
//! `steadfast_reliability::checks`, so an ordinary `cargo test` keeps every input passing, on a
//! stable toolchain and without the fuzzer: the corpus the fuzzer kept (`fuzz/corpus/TARGET/`)
//! and the hand-written boundary values it starts from (`fuzz/seeds/TARGET/`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use steadfast_reliability::checks::TARGETS;

/// The folders of committed inputs, under `fuzz/`.
const INPUTS: [&str; 2] = ["corpus", "seeds"];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_committed_input_passes_its_check() {
    let mut failures = Vec::new();
    let dirs = TARGETS.iter().flat_map(|&(target, check)| {
        INPUTS.map(|inputs| (fuzz_dir().join(inputs).join(target), check))
    });
    for (dir, check) in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(
            !files.is_empty(),
            "{}: a target without inputs",
            dir.display()
        );
        for file in files {
            let input = std::fs::read(&file).expect("a readable corpus file");
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&input))) {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                failures.push(format!("{}: {message}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} committed inputs fail their checks:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_has_its_corpus_and_no_other_is_there() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut on_disk: Vec<String> = std::fs::read_dir(&root)
        .expect("fuzz/corpus")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let mut targets: Vec<String> = TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    targets.sort();
    assert_eq!(on_disk, targets);
}

#[test]
fn every_target_is_a_fuzz_target() {
    let fuzz = fuzz_dir();
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (target, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml has no [[bin]] {target}"
        );
        let source = std::fs::read_to_string(fuzz.join(format!("fuzz_targets/{target}.rs")))
            .unwrap_or_else(|e| panic!("fuzz_targets/{target}.rs: {e}"));
        assert!(
            source.contains(&format!("checks::{target}(data)")),
            "fuzz_targets/{target}.rs does not run its check"
        );
    }
}
