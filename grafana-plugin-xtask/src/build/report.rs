//! What `build` prints: the plan (`--dry-run`, as text or JSON) and the per-target summary.
use std::{fmt::Write as _, path::Path};

use serde_json::json;

use super::{
    exec::Outcome,
    plan::{BuildPlan, TargetPlan, backend_label},
};
use crate::{flags::MessageFormat, ui::Ui};

pub fn names(built: &[(&TargetPlan, &Outcome)]) -> String {
    built
        .iter()
        .map(|(plan, _)| plan.dist_name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn sizes(built: &[(&TargetPlan, &Outcome)]) -> String {
    built
        .iter()
        .map(|(plan, outcome)| {
            format!(
                "{} {:.1} MB",
                plan.dist_name,
                *outcome.result.as_ref().unwrap_or(&0) as f64 / 1e6
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn report(ui: &Ui, format: MessageFormat, plan: &BuildPlan, outcomes: &[Outcome]) {
    match format {
        MessageFormat::Json => {
            for (target_plan, outcome) in plan.targets.iter().zip(outcomes) {
                let line = json!({
                    "platform": target_plan.target.platform_name(),
                    "target": target_plan.target.triple_name(),
                    "backend": target_plan.step.as_ref().ok().map(|s| s.choice.backend.name()),
                    "seconds": (outcome.seconds * 100.0).round() / 100.0,
                    "bytes": outcome.result.as_ref().ok(),
                    "status": if outcome.result.is_ok() { "ok" } else if target_plan.step.is_err() { "missing" } else { "failed" },
                    "message": outcome.result.as_ref().err(),
                });
                println!("{line}");
            }
        }
        MessageFormat::Human => {
            if ui.quiet() {
                return;
            }
            let mut table = format!(
                "{:<14} {:<32} {:<10} {:>8} {:>9}  result\n",
                "platform", "target", "back end", "time", "size"
            );
            for (target_plan, outcome) in plan.targets.iter().zip(outcomes) {
                let backend = target_plan
                    .step
                    .as_ref()
                    .map_or("-", |s| s.choice.backend.name());
                let (size, result) = match &outcome.result {
                    Ok(_) if plan.check_only => (String::from("-"), "checked".to_owned()),
                    Ok(bytes) => (format!("{:.1} MB", *bytes as f64 / 1e6), "ok".to_owned()),
                    Err(_) if target_plan.step.is_err() => {
                        ("-".into(), "missing (see above)".to_owned())
                    }
                    Err(_) => ("-".into(), "FAILED".to_owned()),
                };
                let _ = writeln!(
                    table,
                    "{:<14} {:<32} {:<10} {:>7.1}s {:>9}  {result}",
                    target_plan.target.platform_name(),
                    target_plan.target.triple_name(),
                    backend,
                    outcome.seconds,
                    size
                );
            }
            ui.status("Summary", "");
            eprint!("{table}");
        }
    }
}

fn show(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
        .replace('\\', "/")
}

/// The plan as `--dry-run` prints it, paths relative to the repository root.
pub fn describe(plan: &BuildPlan, root: &Path) -> String {
    let mut out = String::new();
    let verb = if plan.check_only { "check" } else { "build" };
    let _ = writeln!(
        out,
        "{verb} {} {} ({})",
        plan.plugin_id,
        plan.version,
        plan.profile.name()
    );
    let groups = super::group::together_groups(&plan.targets, plan.check_only);
    for (index, target_plan) in plan.targets.iter().enumerate() {
        let target = &target_plan.target;
        let _ = writeln!(
            out,
            "  target {} ({})",
            target.platform_name(),
            target.triple_name()
        );
        match &target_plan.step {
            Err(missing) => {
                let _ = writeln!(out, "    missing  {missing}");
            }
            Ok(step) => {
                let _ = writeln!(out, "    backend  {}", backend_label(target, &step.choice));
                if step.choice.install_std {
                    let _ = writeln!(
                        out,
                        "    first    rustup target add {}",
                        target.triple_name()
                    );
                }
                if groups.iter().any(|group| group.contains(&index)) {
                    let _ = writeln!(out, "    run      with the others, in one cargo (below)");
                } else {
                    let _ = writeln!(out, "    run      {}", step.command.display());
                }
                if !plan.check_only {
                    let _ = writeln!(
                        out,
                        "    output   {} -> dist/{} (0755)",
                        show(&step.built_binary, root),
                        target_plan.dist_name
                    );
                }
            }
        }
    }
    for group in &groups {
        let members: Vec<&TargetPlan> = group.iter().map(|&i| &plan.targets[i]).collect();
        let names: Vec<String> = members.iter().map(|t| t.target.platform_name()).collect();
        let _ = writeln!(out, "  together {}", names.join(", "));
        let _ = writeln!(
            out,
            "    run      {}",
            super::group::together(&members).display()
        );
    }
    if !plan.check_only {
        for file in &plan.files {
            let verb = if file.fill { "fill" } else { "copy" };
            let _ = writeln!(
                out,
                "  {verb:<6} {} -> dist/{} (0644)",
                show(&file.source, root),
                file.dest
            );
        }
        for name in &plan.kept_binaries {
            let _ = writeln!(out, "  keep   dist/{name} (0755)");
        }
        for name in &plan.dropped_binaries {
            let _ = writeln!(out, "  remove dist/{name} (--clean)");
        }
    }
    out
}

/// The plan as `--dry-run --message-format json` prints it.
pub fn plan_json(plan: &BuildPlan, root: &Path) -> serde_json::Value {
    let targets: Vec<serde_json::Value> = plan
        .targets
        .iter()
        .map(|target_plan| {
            let target = &target_plan.target;
            let mut entry = json!({
                "platform": target.platform_name(),
                "target": target.triple_name(),
                "dist": format!("dist/{}", target_plan.dist_name),
            });
            match &target_plan.step {
                Err(missing) => entry["missing"] = json!(missing),
                Ok(step) => {
                    entry["backend"] = json!(step.choice.backend.name());
                    entry["buildStd"] = json!(step.choice.build_std);
                    entry["installStd"] = json!(step.choice.install_std);
                    entry["program"] = json!(step.command.program);
                    entry["args"] = json!(step.command.args);
                    entry["env"] = step
                        .command
                        .env
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                    entry["output"] = json!(show(&step.built_binary, root));
                }
            }
            entry
        })
        .collect();
    json!({
        "pluginId": plan.plugin_id,
        "version": plan.version,
        "profile": plan.profile.name(),
        "checkOnly": plan.check_only,
        "targets": targets,
        "together": together_json(plan),
        "files": plan.files.iter().map(|f| json!({ "source": show(&f.source, root), "dest": f.dest, "fill": f.fill })).collect::<Vec<_>>(),
        "keep": plan.kept_binaries,
        "remove": plan.dropped_binaries,
    })
}

/// The commands that each build several targets, as JSON (an empty array when there is
/// none).
fn together_json(plan: &BuildPlan) -> serde_json::Value {
    let groups = super::group::together_groups(&plan.targets, plan.check_only);
    (groups.iter())
        .map(|group| {
            let members: Vec<&TargetPlan> = group.iter().map(|&i| &plan.targets[i]).collect();
            let command = super::group::together(&members);
            json!({
                "platforms": members.iter().map(|t| t.target.platform_name()).collect::<Vec<_>>(),
                "program": command.program,
                "args": command.args,
                "env": command.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect()
}
