//! `cargo xtask e2e`: the packaged plugin in a real Grafana, checked through Grafana's HTTP
//! API as a user meets it. Packages the backend for the platform Grafana runs on, installs
//! the archive the way a user does (unzipped into a plugins folder; unsigned allowed by id,
//! not by development mode, so the production load path runs), starts Grafana (the
//! `grafana/grafana` image at `--grafana-version`, or a local Grafana given by `--grafana`),
//! then checks: `/api/health`; the plugin in `/api/plugins/<id>/settings` with no load
//! error; `/api/plugins/<id>/health` OK; each resource route as a Viewer and as an Admin
//! (authorization through Grafana); Grafana's log has the plugin's start line and no error
//! of the plugin's. On failure it prints the failed checks and the plugin's log lines. It
//! stops everything it started.
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::atomic::AtomicBool,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{
    context::Context,
    flags::{E2eFlags, PackageFlags},
    http::{Answer, Endpoint, Request},
    package, project,
    spawn::cmd,
    targets, util,
};

/// The administrator `e2e` makes Grafana start with (a fresh password each run).
const ADMIN: &str = "admin";
/// The Viewer `e2e` creates through Grafana's admin API.
const VIEWER: &str = "e2e-viewer";

/// One resource call and what Grafana must answer for each role.
struct RouteCheck {
    method: &'static str,
    path: &'static str,
    /// (role, status, a JSON field the body must have)
    expect: [(&'static str, u16, Option<&'static str>); 2],
}

/// The plugin's routes (plugin/src/resources.rs) as Grafana's users reach them.
const ROUTES: [RouteCheck; 4] = [
    RouteCheck {
        method: "GET",
        path: "ping",
        expect: [
            ("Viewer", 200, Some("message")),
            ("Admin", 200, Some("message")),
        ],
    },
    RouteCheck {
        method: "GET",
        path: "checks",
        expect: [
            ("Viewer", 200, Some("checks")),
            ("Admin", 200, Some("checks")),
        ],
    },
    RouteCheck {
        method: "POST",
        path: "checks/run",
        expect: [
            ("Viewer", 403, Some("error")),
            ("Admin", 200, Some("checks")),
        ],
    },
    RouteCheck {
        method: "POST",
        path: "hooks/report",
        expect: [
            ("Viewer", 401, Some("error")),
            ("Admin", 401, Some("error")),
        ],
    },
];

pub fn run(context: &Context, flags: &E2eFlags) -> Result<()> {
    let (sh, ui) = (&context.sh, &context.ui);
    let project = context.project()?;
    let root = project.cargo.workspace_root.clone();
    let id = project.plugin.id.clone();
    let manifest = root.join(project.layout.plugin_json());
    let version = match flags.grafana_version.as_deref() {
        Some(version) => version.to_owned(),
        None => oldest_supported(&manifest)?,
    };
    // The platform Grafana runs on: this machine's for a local one, Linux in a container.
    let target = match &flags.grafana {
        Some(_) => targets::parse(&targets::host()?.platform_name(), std::env::consts::OS)?,
        None => {
            if !util::engine_answers(sh, "docker") {
                bail!(
                    "e2e runs Grafana's image and no container engine answers (`docker info`); \
                     start Docker or Podman, or give a local Grafana with --grafana PATH"
                );
            }
            targets::linux_of_host()?
        }
    };
    let platform = target.platform_name();
    package::run(
        context,
        &PackageFlags {
            targets: vec![platform.clone()],
            no_build: flags.no_build,
            out_dir: None,
            per_platform: false,
            sign: false,
            root_urls: None,
        },
    )?;
    let archive = package::out_dir(&root).join(package::archive_name(&id, &project.cargo.version));
    let work = root.join("target").join("e2e");
    util::remove_path_if_present(&work)?;
    let plugins = work.join("plugins");
    unzip(&archive, &plugins)?;
    ui.status(
        "Installed",
        format!("{} into {}", archive.display(), plugins.display()),
    );

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let password = format!("e2e-{}-{nanos}", std::process::id());
    let log = work.join("grafana.log");
    let mut grafana = match &flags.grafana {
        Some(binary) => Grafana::local(binary, &work, &plugins, &id, flags.port, &password)?,
        None => Grafana::container(sh, &version, &plugins, &id, flags.port, &password)?,
    };
    ui.status("Started", grafana.describe(&version));
    let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{}", flags.port), None)?;
    let failures = check_all(ui, &endpoint, &id, &password, &mut grafana, &log);
    let failures = match failures {
        Ok(failures) => failures,
        Err(error) => vec![format!("{error:#}")],
    };
    grafana.stop(sh, &log);
    if failures.is_empty() {
        ui.status(
            "Finished",
            format!(
                "e2e: {id} on {platform} passed every check in {}",
                grafana.describe(&version)
            ),
        );
        return Ok(());
    }
    let lines = plugin_log_lines(&log, &id);
    eprintln!("Grafana's log for plugin.{id} ({}):", log.display());
    for line in lines.iter().rev().take(40).rev() {
        eprintln!("  {line}");
    }
    for failure in &failures {
        ui.error(failure);
    }
    bail!("e2e: {} check(s) failed (above)", failures.len())
}

/// The oldest Grafana plugin.json's `grafanaDependency` allows (`>=12.4.0` → `12.4.0`).
fn oldest_supported(manifest: &Path) -> Result<String> {
    let json: Value = serde_json::from_str(&project::read_text(manifest)?)
        .with_context(|| format!("{}: not valid JSON", manifest.display()))?;
    let dependency = json["dependencies"]["grafanaDependency"]
        .as_str()
        .unwrap_or_default();
    let oldest = dependency
        .trim()
        .strip_prefix(">=")
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'));
    match oldest {
        Some(version) => Ok(version.to_owned()),
        None => bail!(
            "{}: dependencies.grafanaDependency is {dependency:?}, not `>=X.Y.Z`; give the \
             Grafana version to test with --grafana-version",
            manifest.display()
        ),
    }
}

/// Unzips the archive as a user does, refusing entries that would land outside `into`.
fn unzip(archive: &Path, into: &Path) -> Result<()> {
    let file =
        fs::File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a zip archive", archive.display()))?;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index)?;
        let Some(relative) = entry.enclosed_name() else {
            bail!(
                "{}: entry {:?} leaves the archive's folder",
                archive.display(),
                entry.name()
            );
        };
        let path = into.join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out =
            fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        std::io::copy(&mut entry, &mut out)?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o777))?;
        }
    }
    Ok(())
}

/// The Grafana under test: a container or a local process.
enum Grafana {
    Container { name: String, engine: String },
    Local { child: Child, binary: PathBuf },
}

impl Grafana {
    fn container(
        sh: &xshell::Shell,
        version: &str,
        plugins: &Path,
        id: &str,
        port: u16,
        password: &str,
    ) -> Result<Grafana> {
        let name = format!("grafana-e2e-{}", std::process::id());
        let image = format!("grafana/grafana:{version}");
        let publish = format!("127.0.0.1:{port}:3000");
        let volume = format!("{}:/var/lib/grafana/plugins", plugins.display());
        let allow = format!("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={id}");
        // The password through docker's environment, never on a command line.
        cmd!(
            sh,
            "docker run --detach --name {name} --publish {publish} --volume {volume} --env {allow} --env GF_SECURITY_ADMIN_PASSWORD {image}"
        )
        .env("GF_SECURITY_ADMIN_PASSWORD", password)
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("docker could not start {image}"))?;
        Ok(Grafana::Container {
            name,
            engine: "docker".to_owned(),
        })
    }

    fn local(
        binary: &Path,
        work: &Path,
        plugins: &Path,
        id: &str,
        port: u16,
        password: &str,
    ) -> Result<Grafana> {
        let (binary, home) = if binary.is_dir() {
            let name = format!("grafana{}", std::env::consts::EXE_SUFFIX);
            (binary.join("bin").join(name), Some(binary.to_owned()))
        } else {
            (binary.to_owned(), None)
        };
        let log = fs::File::create(work.join("grafana.log"))?;
        let mut command = crate::spawn::command(&binary);
        command.arg("server");
        if let Some(home) = home {
            command.arg("--homepath").arg(home);
        }
        let child = command
            .env("GF_PATHS_PLUGINS", plugins)
            .env("GF_PATHS_DATA", work.join("data"))
            .env("GF_SERVER_HTTP_PORT", port.to_string())
            .env("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS", id)
            .env("GF_SECURITY_ADMIN_USER", ADMIN)
            .env("GF_SECURITY_ADMIN_PASSWORD", password)
            .env_remove("GF_DEFAULT_APP_MODE")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(Grafana::Local { child, binary })
    }

    fn describe(&self, version: &str) -> String {
        match self {
            Grafana::Container { name, .. } => {
                format!("grafana/grafana:{version} (container {name}), production mode")
            }
            Grafana::Local { child, binary } => {
                format!("{} (pid {}), production mode", binary.display(), child.id())
            }
        }
    }

    /// Whether it still runs (a local Grafana that exited cannot answer).
    fn running(&mut self) -> bool {
        match self {
            Grafana::Local { child, .. } => child.try_wait().is_ok_and(|status| status.is_none()),
            Grafana::Container { .. } => true,
        }
    }

    /// Stops it; a container's log is saved to `log` first.
    fn stop(&mut self, sh: &xshell::Shell, log: &Path) {
        match self {
            Grafana::Container { name, engine } => {
                if let Ok(output) = cmd!(sh, "{engine} logs {name}")
                    .quiet()
                    .ignore_status()
                    .output()
                {
                    let mut text = output.stdout;
                    text.extend(output.stderr);
                    let _ = fs::write(log, text);
                }
                let _ = cmd!(sh, "{engine} rm --force {name}")
                    .quiet()
                    .ignore_stdout()
                    .ignore_stderr()
                    .run();
            }
            Grafana::Local { child, .. } => {
                crate::dev::stop_processes(&[child.id()], Duration::from_secs(10));
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Every check, in order; the failures, each one line saying what was asked, what came and
/// what was expected.
fn check_all(
    ui: &crate::ui::Ui,
    endpoint: &Endpoint,
    id: &str,
    password: &str,
    grafana: &mut Grafana,
    log: &Path,
) -> Result<Vec<String>> {
    let stop = AtomicBool::new(false);
    let admin = Some((ADMIN, password));
    let call = |method: &str, path: &str, basic: Option<(&str, &str)>, body: Option<&[u8]>| {
        endpoint.send(
            &Request {
                method,
                path,
                basic,
                body,
            },
            &stop,
        )
    };
    // Grafana's start: a container may pull its image first.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if !grafana.running() {
            bail!("Grafana exited at start; its log is {}", log.display());
        }
        match call("GET", "/api/health", None, None) {
            Ok(answer)
                if answer.status == 200 && field(&answer, "database").as_deref() == Some("ok") =>
            {
                break;
            }
            _ if Instant::now() >= deadline => {
                bail!(
                    "Grafana did not answer /api/health within 300 s at {}",
                    endpoint.url()
                )
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    ui.status("Checked", "/api/health: database ok");
    let mut failures = Vec::new();
    // `what` is printed when the check holds; `what: detail` is the failure.
    let mut expect = |what: String, detail: String, ok: bool| {
        if ok {
            ui.status("Checked", &what);
        } else {
            failures.push(format!("{what}: {detail}"));
        }
    };

    let settings_path = format!("/api/plugins/{id}/settings");
    let settings = call("GET", &settings_path, admin, None);
    let loaded =
        matches!(&settings, Ok(a) if a.status == 200 && field(a, "id").as_deref() == Some(id));
    expect(
        format!("{settings_path}: the plugin is loaded"),
        shown(&settings, "200 with this id"),
        loaded,
    );
    let errors = call("GET", "/api/plugins/errors", admin, None);
    let refused = match &errors {
        Ok(answer) => serde_json::from_str::<Value>(&answer.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["pluginId"] == id)
            .map(|e| e["errorCode"].as_str().unwrap_or("unknown").to_owned())
            .collect::<Vec<_>>(),
        Err(failure) => vec![format!("no answer: {failure}")],
    };
    expect(
        "/api/plugins/errors: nothing for this plugin".to_owned(),
        format!("Grafana refused it: {}", refused.join(", ")),
        refused.is_empty(),
    );
    if !loaded {
        return Ok(failures);
    }
    // The backend may still be starting right after Grafana answers.
    let health_path = format!("/api/plugins/{id}/health");
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let health = call("GET", &health_path, admin, None);
        let ok = matches!(&health, Ok(a) if a.status == 200 && field(a, "status").as_deref() == Some("OK"));
        if ok || Instant::now() >= deadline {
            break health;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let healthy =
        matches!(&health, Ok(a) if a.status == 200 && field(a, "status").as_deref() == Some("OK"));
    expect(
        format!("{health_path}: status OK"),
        shown(&health, "200 with status OK"),
        healthy,
    );

    // A Viewer of the default organization, made through Grafana's admin API.
    let viewer_password = format!("{password}-viewer");
    let user = serde_json::json!({
        "name": VIEWER, "login": VIEWER, "password": viewer_password, "OrgId": 1
    })
    .to_string();
    let created = call("POST", "/api/admin/users", admin, Some(user.as_bytes()));
    let created_ok = matches!(&created, Ok(a) if a.status == 200);
    expect(
        format!("POST /api/admin/users: the Viewer {VIEWER} created"),
        shown(&created, "200"),
        created_ok,
    );
    for route in &ROUTES {
        for (role, status, field_name) in route.expect {
            let basic = match role {
                "Admin" => admin,
                _ => Some((VIEWER, viewer_password.as_str())),
            };
            let path = format!("/api/plugins/{id}/resources/{}", route.path);
            let body = (route.method == "POST").then_some(&b"{}"[..]);
            let answer = call(route.method, &path, basic, body);
            let ok = matches!(&answer, Ok(a) if a.status == status
                && field_name.is_none_or(|name| json(a).is_some_and(|v| v.get(name).is_some())));
            let wanted = match field_name {
                Some(name) => format!("{status} with a JSON `{name}`"),
                None => status.to_string(),
            };
            expect(
                format!("{} {} as {role}: {status}", route.method, route.path),
                shown(&answer, &wanted),
                ok,
            );
        }
    }

    let lines = plugin_log_lines(log, id);
    let started = lines.iter().any(|line| line.contains("plugin started"));
    expect(
        "Grafana's log: the plugin's start line".to_owned(),
        "no \"plugin started\" line after logger=plugin.<id>".to_owned(),
        started,
    );
    let errors: Vec<&String> = (lines.iter())
        .filter(|line| line.contains("level=error") || line.contains("\"@level\":\"error\""))
        .collect();
    expect(
        "Grafana's log: no error of the plugin's".to_owned(),
        format!(
            "{} error line(s), the first: {}",
            errors.len(),
            errors.first().map_or("", |line| line.as_str())
        ),
        errors.is_empty(),
    );
    Ok(failures)
}

fn json(answer: &Answer) -> Option<Value> {
    serde_json::from_str(&answer.body).ok()
}

/// A string field of the JSON body.
fn field(answer: &Answer, name: &str) -> Option<String> {
    json(answer)?.get(name)?.as_str().map(str::to_owned)
}

/// `got 403 {"error":…}; expected 200 with …` or `ok (200)`.
fn shown(answer: &Result<Answer, crate::http::Failure>, expected: &str) -> String {
    match answer {
        Ok(answer) => {
            let body: String = answer.body.trim().chars().take(120).collect();
            format!("got {} {body}; expected {expected}", answer.status)
        }
        Err(failure) => format!("no answer ({failure}); expected {expected}"),
    }
}

/// The lines of Grafana's log that are the plugin's (`logger=plugin.<id>`).
fn plugin_log_lines(log: &Path, id: &str) -> Vec<String> {
    let marker = format!("logger=plugin.{id} ");
    fs::read(log)
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|line| line.contains(&marker))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_grafana_comes_from_grafana_dependency() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("plugin.json");
        fs::write(
            &manifest,
            r#"{"dependencies":{"grafanaDependency":">=12.4.0"}}"#,
        )
        .unwrap();
        assert_eq!(oldest_supported(&manifest).unwrap(), "12.4.0");
        fs::write(&manifest, r#"{"dependencies":{"grafanaDependency":"^12"}}"#).unwrap();
        let error = oldest_supported(&manifest).unwrap_err().to_string();
        assert!(error.contains("--grafana-version"), "{error}");
        // The repository's own plugin.json says which Grafana CI tests first.
        let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin.json");
        assert!(oldest_supported(&ours).is_ok());
    }

    #[test]
    fn json_string_fields_are_read_from_bodies() {
        let answer = Answer {
            status: 200,
            body: r#"{"commit":"x","database": "ok","version":"12.4.0"}"#.to_owned(),
        };
        assert_eq!(field(&answer, "database").as_deref(), Some("ok"));
        assert_eq!(field(&answer, "version").as_deref(), Some("12.4.0"));
        assert_eq!(field(&answer, "missing"), None);
    }
}
