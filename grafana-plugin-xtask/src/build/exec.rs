//! Running what the plan says: installing a missing standard library, one cargo (or cross,
//! or zigbuild) command per target, and the command runner `dev` shares.
use std::{fs, time::Instant};

use anyhow::Result;
use xshell::Shell;

use super::{
    group::together,
    plan::{CommandLine, Options, Step, TargetPlan, backend_label, step_for},
};
use crate::{
    spawn::cmd,
    toolchain::{self, Environment},
    ui::Ui,
    util,
};

/// A planned command as an xshell command; `cargo` means the cargo that runs us.
fn to_cmd<'a>(sh: &'a Shell, command: &CommandLine) -> xshell::Cmd<'a> {
    let program = if command.program == "cargo" {
        util::cargo()
    } else {
        command.program.clone()
    };
    let args = &command.args;
    let mut line = cmd!(sh, "{program} {args...}").quiet();
    for (key, value) in &command.env {
        line = line.env(key, value);
    }
    line
}

/// Runs a planned command.
pub fn run_command(sh: &Shell, command: &CommandLine) -> Result<()> {
    to_cmd(sh, command).run()?;
    Ok(())
}

/// What happened to one target.
pub struct Outcome {
    pub seconds: f64,
    pub result: Result<u64, String>,
}

/// Runs `rustup target add` for a target whose standard library is missing; when that fails,
/// falls back to nightly `-Zbuild-std` if possible, or records what is missing.
pub fn install_std_if_needed(
    sh: &Shell,
    ui: &Ui,
    scratch_dir: &std::path::Path,
    environment: &Environment,
    options: &Options,
    package: &str,
    target_plan: &mut TargetPlan,
) {
    let Ok(step) = &target_plan.step else { return };
    if !step.choice.install_std {
        return;
    }
    let triple = target_plan.target.triple_name().to_owned();
    // rustup publishes no std for some targets (armv7 musl: a 404): that answer is kept per
    // toolchain, so later builds go straight to the fallback instead of asking again.
    let memo = scratch_dir
        .join("no-rustup-std")
        .join(format!("{}-{triple}", environment.rustc_release));
    let failure = match fs::read_to_string(&memo) {
        Ok(reason) => Some(reason),
        Err(_) => {
            ui.status(
                "Installing",
                format!("the standard library for {triple} (rustup target add {triple})"),
            );
            let failure = rustup_target_add(sh, &triple);
            if let Some(reason) = &failure
                && is_unpublished(reason)
                && fs::create_dir_all(memo.parent().expect("a memo has a parent")).is_ok()
            {
                // Only a cache: without it rustup is asked again next time.
                let _ = fs::write(&memo, reason);
            }
            failure
        }
    };
    let Some(reason) = failure else { return };
    target_plan.step = toolchain::after_failed_install(&target_plan.target, environment, &reason)
        .map(|choice| {
            ui.status(
                "Falling back",
                format!("to nightly -Zbuild-std: {triple}'s standard library is built from source"),
            );
            step_for(
                &target_plan.target,
                choice,
                &step.built_binary,
                options,
                environment,
                package,
            )
        });
}

/// `rustup target add`, and its error on one line when it fails.
fn rustup_target_add(sh: &Shell, triple: &str) -> Option<String> {
    // Without RUST_BACKTRACE rustup prints its error and cause chain, not a backtrace.
    match cmd!(sh, "rustup target add {triple}")
        .env_remove("RUST_BACKTRACE")
        .quiet()
        .ignore_status()
        .output()
    {
        Err(error) => Some(error.to_string()),
        Ok(output) if !output.status.success() => {
            Some(rustup_error(&String::from_utf8_lossy(&output.stderr)))
        }
        Ok(_) => None,
    }
}

/// Whether rustup's error says the toolchain has no std for the target (as opposed to a
/// network failure, which may pass).
pub(super) fn is_unpublished(reason: &str) -> bool {
    reason.contains("status code: 404")
        || reason.contains("is unavailable")
        || reason.contains("does not support target")
}

/// rustup's error and its causes on one line (`error: …`, then the `Caused by:` chain without
/// its numbering), leaving out progress, notes and any backtrace.
pub(super) fn rustup_error(stderr: &str) -> String {
    let mut parts = Vec::new();
    let mut causes = false;
    for line in stderr.lines().map(str::trim) {
        if line.to_ascii_lowercase().starts_with("stack backtrace:") {
            break;
        }
        if let Some(error) = line.strip_prefix("error:") {
            parts.push(error.trim().to_owned());
        } else if line == "Caused by:" {
            causes = true;
        } else if causes && !line.is_empty() {
            let cause = line
                .split_once(": ")
                .filter(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()))
                .map_or(line, |(_, cause)| cause);
            parts.push(cause.to_owned());
        }
    }
    if parts.is_empty() {
        // No `error:` line: the last thing it said.
        let last = stderr.lines().map(str::trim).rfind(|l| !l.is_empty());
        return last.unwrap_or("no output").to_owned();
    }
    parts.join(": ")
}

pub fn build_one(
    sh: &Shell,
    ui: &Ui,
    options: &Options,
    target_plan: &TargetPlan,
    (index, total): (usize, usize),
) -> Outcome {
    let started = Instant::now();
    let done = |result| Outcome {
        seconds: started.elapsed().as_secs_f64(),
        result,
    };
    let platform = target_plan.target.platform_name();
    let step = match &target_plan.step {
        Err(missing) => return done(Err(missing.clone())),
        Ok(step) => step,
    };
    announce(ui, options, target_plan, step, (index, total));
    if let Err(error) = run_command(sh, &step.command) {
        return done(Err(failure_message(&platform, total, &error)));
    }
    if options.check_only {
        return done(Ok(0));
    }
    match fs::metadata(&step.built_binary) {
        Ok(metadata) => done(Ok(metadata.len())),
        Err(error) => done(Err(format!(
            "{platform}: the build left no binary at {}: {error}",
            step.built_binary.display()
        ))),
    }
}

/// What a failed build command says: a build that ran and failed has said why above; one
/// that could not start (a back end missing from PATH) says it only here.
fn failure_message(platform: &str, total: usize, error: &anyhow::Error) -> String {
    let said = error.to_string();
    let ran = said.starts_with("command exited with") || said.contains("terminated by a signal");
    match (total, ran) {
        (1, true) => "cargo could not build the backend; dist/ was left as it was".to_owned(),
        (1, false) => format!("cannot run the build ({error:#}); dist/ was left as it was"),
        _ => format!("{platform}: the build failed ({error:#})"),
    }
}

/// The status line saying a target is being built (or checked), and with what.
fn announce(
    ui: &Ui,
    options: &Options,
    target_plan: &TargetPlan,
    step: &Step,
    (index, total): (usize, usize),
) {
    let counter = if total > 1 {
        format!("[{index}/{total}] ")
    } else {
        String::new()
    };
    ui.status(
        if options.check_only {
            "Checking"
        } else {
            "Building"
        },
        format!(
            "{counter}{} ({}) with {}",
            target_plan.target.platform_name(),
            target_plan.target.triple_name(),
            backend_label(&target_plan.target, &step.choice)
        ),
    );
}

/// Builds several targets with one cargo invocation (`--keep-going`: one failing target
/// does not stop the others), then reads cargo's JSON messages for the binaries it produced:
/// a target whose binary is not among them failed. One status line per target first; the
/// compiler's diagnostics go to stderr as cargo renders them.
pub fn build_together(
    sh: &Shell,
    ui: &Ui,
    options: &Options,
    group: &[(usize, &TargetPlan)],
    total: usize,
) -> Vec<Outcome> {
    let started = Instant::now();
    let plans: Vec<&TargetPlan> = group.iter().map(|(_, target_plan)| *target_plan).collect();
    for (index, target_plan) in group {
        if let Ok(step) = &target_plan.step {
            announce(ui, options, target_plan, step, (index + 1, total));
        }
    }
    let produced = run_for_artifacts(sh, &together(&plans));
    let seconds = started.elapsed().as_secs_f64();
    plans
        .iter()
        .map(|target_plan| {
            let platform = target_plan.target.platform_name();
            let result = match (&produced, &target_plan.step) {
                (_, Err(missing)) => Err(missing.clone()),
                (Err(error), _) => Err(format!("{platform}: {error}")),
                (Ok(_), Ok(_)) if options.check_only => Ok(0),
                (Ok(produced), Ok(step)) => {
                    if produced
                        .iter()
                        .any(|path| same_file(path, &step.built_binary))
                    {
                        fs::metadata(&step.built_binary)
                            .map(|m| m.len())
                            .map_err(|error| {
                                format!(
                                    "{platform}: the build left no binary at {}: {error}",
                                    step.built_binary.display()
                                )
                            })
                    } else {
                        Err(format!("{platform}: the build failed (errors above)"))
                    }
                }
            };
            Outcome { seconds, result }
        })
        .collect()
}

/// Runs cargo with JSON messages on stdout (read here, whatever its exit status) and its
/// rendered output on stderr, and returns the executables it reported (built now or fresh).
fn run_for_artifacts(sh: &Shell, command: &CommandLine) -> Result<Vec<std::path::PathBuf>, String> {
    let stdout = to_cmd(sh, command)
        .ignore_status()
        .read()
        .map_err(|error| format!("cannot run {}: {error}", command.program))?;
    Ok(stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| message["executable"].as_str().map(std::path::PathBuf::from))
        .collect())
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    a == b
        || fs::canonicalize(a)
            .ok()
            .zip(fs::canonicalize(b).ok())
            .is_some_and(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_that_cannot_start_says_why_and_one_that_failed_points_above() {
        let sh = Shell::new().unwrap();
        let line = |program: &str, args: &[&str]| CommandLine {
            program: program.to_owned(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
        };
        let missing = run_command(&sh, &line("cargo-no-such-back-end", &[])).unwrap_err();
        let said = failure_message("linux/arm64", 1, &missing);
        assert!(
            said.starts_with("cannot run the build (") && said.contains("cargo-no-such-back-end"),
            "{said}"
        );
        let failed = run_command(&sh, &line(&crate::util::cargo(), &["--no-such-flag"]));
        let said = failure_message("linux/arm64", 1, &failed.unwrap_err());
        assert_eq!(
            said,
            "cargo could not build the backend; dist/ was left as it was"
        );
        let said = failure_message("linux/arm64", 2, &missing);
        assert!(
            said.starts_with("linux/arm64: the build failed ("),
            "{said}"
        );
    }
}
