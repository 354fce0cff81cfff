//! Lint: each combination that cannot do what was meant is warned about, with its path, and
//! settings that work together get no warning.

use steadfast::config::{lint, Config, Format, LintKind};

fn kinds(toml: &str) -> Vec<(LintKind, String)> {
    let config = Config::from_str(toml, Format::Toml).unwrap_or_else(|e| panic!("{e}"));
    lint(&config)
        .into_iter()
        .map(|l| (l.kind, l.path))
        .collect()
}

#[test]
fn settings_that_work_together_get_no_warning() {
    assert!(kinds(
        r#"
        [stacks.api]
        cancel = "10s"
        attempt_timeout = "1s"
        retry = { max_attempts = 3, max_hint = "5s", backoff = { max = "2s" } }
        breaker = { window = { time = "30s" } }
        "#
    )
    .is_empty());
}

#[test]
fn the_complete_sample_file_is_warned_about_its_retries_only() {
    // Five attempts of 1s with backoffs up to 3s cannot fit in the inventory stack's 5s.
    assert_eq!(
        kinds(include_str!("config/complete.toml")),
        [(
            LintKind::RetriesOutlastTotal,
            "stacks.inventory.retry.max_attempts".to_owned()
        )]
    );
}

#[test]
fn an_attempt_timeout_not_shorter_than_the_total_is_warned_about() {
    assert_eq!(
        kinds("[stacks.api]\ncancel = \"2s\"\nattempt_timeout = \"2s\"\n"),
        [(
            LintKind::AttemptNotShorterThanTotal,
            "stacks.api.attempt_timeout".to_owned()
        )]
    );
    assert!(kinds("[stacks.api]\ncancel = \"2s\"\nattempt_timeout = \"1999ms\"\n").is_empty());
}

#[test]
fn retries_beyond_the_total_timeout_are_warned_about() {
    // 1s + 2 × (1s + 1s) = 5s: fits in 5s, not in 4999ms.
    let stack = |total: &str| {
        format!(
            "[stacks.api]\ncancel = \"{total}\"\nattempt_timeout = \"1s\"\n\
             retry = {{ max_attempts = 3, backoff = {{ max = \"1s\" }} }}\n"
        )
    };
    assert!(kinds(&stack("5s")).is_empty());
    assert_eq!(
        kinds(&stack("4999ms")),
        [(
            LintKind::RetriesOutlastTotal,
            "stacks.api.retry.max_attempts".to_owned()
        )]
    );
}

#[test]
fn a_window_shorter_than_two_attempt_timeouts_is_warned_about() {
    let stack = |window: &str| {
        format!(
            "[stacks.api]\nattempt_timeout = \"1s\"\n\
             breaker = {{ window = {{ time = \"{window}\" }} }}\n"
        )
    };
    assert!(kinds(&stack("2s")).is_empty());
    assert_eq!(
        kinds(&stack("1999ms")),
        [(
            LintKind::WindowShorterThanTwoAttempts,
            "stacks.api.breaker.window".to_owned()
        )]
    );
}

#[test]
fn a_budget_that_never_refills_is_warned_about() {
    let policy = |refund: u32| {
        format!(
            "[policies.p]\nbudget = {{ kind = \"token_bucket\", capacity = 10, retry_cost = 1, \
             success_refund = {refund} }}\n"
        )
    };
    assert!(kinds(&policy(1)).is_empty());
    assert_eq!(
        kinds(&policy(0)),
        [(
            LintKind::BudgetNeverRefills,
            "policies.p.budget.success_refund".to_owned()
        )]
    );
}

#[test]
fn a_hint_clamp_below_the_backoff_cap_is_warned_about() {
    let policy =
        |hint: &str| format!("[policies.p]\nmax_hint = \"{hint}\"\nbackoff = {{ max = \"2s\" }}\n");
    assert!(kinds(&policy("2s")).is_empty());
    assert_eq!(
        kinds(&policy("1999ms")),
        [(
            LintKind::HintClampBelowBackoffCap,
            "policies.p.max_hint".to_owned()
        )]
    );
}

#[test]
fn a_warning_says_why_and_what_to_change() {
    let config = Config::from_str(
        "[stacks.api]\ncancel = \"1s\"\nattempt_timeout = \"2s\"\n",
        Format::Toml,
    )
    .unwrap();
    let text = lint(&config)[0].to_string();
    assert!(
        text.starts_with("stacks.api.attempt_timeout: the attempt timeout (2s)"),
        "{text}"
    );
    assert!(
        text.contains("make the attempt timeout a fraction"),
        "{text}"
    );
}

#[test]
fn a_ratio_budget_with_nothing_to_spend_is_warned_about() {
    let policy = |ratio: &str, min: u32| {
        format!(
            "[policies.p]\nbudget = {{ kind = \"ratio\", ratio = {ratio}, min_per_second = {min} }}\n"
        )
    };
    assert!(kinds(&policy("0.1", 0)).is_empty());
    assert!(kinds(&policy("0.0", 1)).is_empty());
    assert_eq!(
        kinds(&policy("0.0", 0)),
        [(
            LintKind::BudgetNeverRefills,
            "policies.p.budget.ratio".to_owned()
        )]
    );
}
