//! The runner's command line: listing, and the error paths (unknown paper, bad flags).

use std::process::Command;

fn xtask(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn list_names_every_registered_paper_and_experiment() {
    let (ok, text) = xtask(&["reproduce", "--list"]);
    assert!(ok, "{text}");
    for name in [
        "hmm-linear-filter",
        "exactness",
        "two-state-sweep",
        "xi",
        "ringworld",
    ] {
        assert!(text.contains(name), "missing {name} in:\n{text}");
    }
}

#[test]
fn unknown_paper_fails_and_lists_the_valid_ones() {
    let (ok, text) = xtask(&[
        "reproduce",
        "no-such-paper",
        "--out",
        "/nonexistent/never-written",
    ]);
    assert!(!ok);
    assert!(text.contains("unknown paper \"no-such-paper\""), "{text}");
    assert!(
        text.contains("valid papers: core-ml, hmm-linear-filter"),
        "{text}"
    );
}

#[test]
fn bad_flags_fail() {
    let (ok, text) = xtask(&["reproduce", "--profile", "medium"]);
    assert!(!ok);
    assert!(text.contains("quick") && text.contains("full"), "{text}");
    let (ok, _) = xtask(&["reproduce", "--no-such-flag"]);
    assert!(!ok);
    let (ok, text) = xtask(&["reproduce", "--jobs", "0", "--list"]);
    // --list answers before any work; without it, --jobs 0 is refused.
    assert!(ok, "{text}");
    let (ok, text) = xtask(&[
        "reproduce",
        "hmm-linear-filter",
        "--jobs",
        "0",
        "--out",
        "/nonexistent/never-written",
    ]);
    assert!(!ok && text.contains("--jobs must be at least 1"), "{text}");
    let (ok, text) = xtask(&["frobnicate"]);
    assert!(!ok && text.contains("unrecognized subcommand"), "{text}");
}
