//! Which targets build together: one cargo (or cargo-zigbuild) invocation with several
//! `--target`s, for targets whose commands differ only in the target and its own settings.
use super::plan::{CommandLine, Step, TargetPlan, target_variables};

/// A build command without its targets: program, arguments, shared environment.
type GroupKey = (String, Vec<String>, Vec<(String, String)>);

/// What a target's build command is apart from its `--target` and its own
/// `CARGO_TARGET_<TRIPLE>_*` variables. Targets with the same key can share one invocation:
/// plain cargo (the linux and windows targets), or cargo-zigbuild with the same toolchain and
/// settings (both darwin targets). Never the host without `--target` (its own directory
/// layout) nor `cross` (one container image per target).
fn group_key(target_plan: &TargetPlan) -> Option<GroupKey> {
    let step = target_plan.step.as_ref().ok()?;
    let triple = target_plan.target.triple.as_ref()?;
    if step.command.program == "cross" {
        return None;
    }
    let mut args = Vec::new();
    let mut iter = step.command.args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--target" {
            iter.next();
        } else {
            args.push(arg.clone());
        }
    }
    let own = target_variables(triple);
    let env = (step.command.env.iter())
        .filter(|(name, _)| !name.starts_with(&own))
        .cloned()
        .collect();
    Some((step.command.program.clone(), args, env))
}

/// The groups of targets that each build in one invocation (two or more targets with the
/// same command apart from `--target`), in the plan's order. None for checks: `cargo check`
/// reports no executables to tell the targets apart.
pub(super) fn together_groups(targets: &[TargetPlan], check_only: bool) -> Vec<Vec<usize>> {
    if check_only {
        return Vec::new();
    }
    let mut groups: Vec<(_, Vec<usize>)> = Vec::new();
    for (index, target_plan) in targets.iter().enumerate() {
        let Some(key) = group_key(target_plan) else {
            continue;
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(index),
            None => groups.push((key, vec![index])),
        }
    }
    (groups.into_iter())
        .map(|(_, members)| members)
        .filter(|members| members.len() > 1)
        .collect()
}

/// One command building every target of `group` (cargo and cargo-zigbuild build several
/// `--target`s in one invocation, sharing build scripts and proc macros and keeping every core
/// busy), with each target's own settings (its linker variable) and JSON messages on stdout,
/// which say which binaries were built.
pub(super) fn together(group: &[&TargetPlan]) -> CommandLine {
    let steps: Vec<&Step> = group
        .iter()
        .filter_map(|target_plan| target_plan.step.as_ref().ok())
        .collect();
    let first = &steps[0].command;
    let mut args = Vec::new();
    let mut iter = first.args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--target" {
            iter.next();
            for target_plan in group {
                args.extend([
                    "--target".to_owned(),
                    target_plan.target.triple_name().to_owned(),
                ]);
            }
        } else {
            args.push(arg.clone());
        }
    }
    // One failing target must not stop the others; cargo's JSON says which binaries it made.
    if let Some(at) = args.iter().position(|a| a == "build" || a == "zigbuild") {
        args.insert(at + 1, "--keep-going".to_owned());
    }
    args.push("--message-format=json-render-diagnostics".to_owned());
    let mut env: Vec<(String, String)> = Vec::new();
    for step in &steps {
        for pair in &step.command.env {
            if !env.contains(pair) {
                env.push(pair.clone());
            }
        }
    }
    CommandLine {
        program: first.program.clone(),
        args,
        env,
    }
}
