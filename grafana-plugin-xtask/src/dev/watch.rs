//! What `dev --watch` does with file events, as a pure state machine fed with synthetic
//! events in tests: classify each path, collect changes until the trailing edge of a quiet
//! period, and hand them over as one batch. Events that arrive while a batch is being
//! handled (a build) wait in the channel and form the next batch: queued, not lost.
use std::{
    collections::BTreeSet,
    path::Path,
    time::{Duration, Instant},
};

use crate::layout::Layout;

/// What a changed file asks for, from the least to the most work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// static/, README, LICENSE, CHANGELOG: refresh those files in dist/.
    Static,
    /// The backend's sources or Cargo files: rebuild and restart the plugin process.
    Source,
    /// plugin.json: Grafana reads it only at start-up, so restart Grafana.
    Manifest,
}

/// The change a path is, relative to the repository root; `None` for what is not watched
/// (target/, dist/, .git/, editors' files, and in a create-plugin app the frontend, which
/// webpack's own watcher has).
pub fn classify(root: &Path, path: &Path, layout: Layout) -> Option<Change> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
    let name = *parts.last()?;
    if name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".tmp")
    {
        return None;
    }
    if parts.join("/") == layout.plugin_json() {
        return Some(Change::Manifest);
    }
    let template = layout == Layout::Template;
    match parts.as_slice() {
        ["Cargo.toml" | "Cargo.lock"] => Some(Change::Source),
        ["plugin", "Cargo.toml" | "build.rs"] => Some(Change::Source),
        ["plugin", "src", ..] => Some(Change::Source),
        ["static", ..] if template => Some(Change::Static),
        ["README.md" | "LICENSE" | "CHANGELOG.md"] if template => Some(Change::Static),
        _ => None,
    }
}

/// Trailing-edge debounce: a batch is ready once no new change came for `quiet`.
#[derive(Debug)]
pub struct Debouncer {
    quiet: Duration,
    pending: BTreeSet<Change>,
    paths: BTreeSet<String>,
    last_event: Option<Instant>,
}

/// Changes handled together, with the paths for the status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub changes: BTreeSet<Change>,
    pub paths: Vec<String>,
    /// When the last change of the batch arrived (the edit-to-serving clock starts here).
    pub last_event: Instant,
}

impl Batch {
    /// The most work any change of the batch asks for.
    pub fn strongest(&self) -> Change {
        *self
            .changes
            .iter()
            .next_back()
            .expect("a batch has a change")
    }
}

impl Debouncer {
    pub fn new(quiet: Duration) -> Debouncer {
        Debouncer {
            quiet,
            pending: BTreeSet::new(),
            paths: BTreeSet::new(),
            last_event: None,
        }
    }

    pub fn record(&mut self, change: Change, path: &str, now: Instant) {
        self.pending.insert(change);
        self.paths.insert(path.to_owned());
        self.last_event = Some(now);
    }

    /// How long to wait for more events before the batch is due; `None` when idle.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.last_event
            .map(|last| (last + self.quiet).saturating_duration_since(now))
    }

    /// The batch, once the quiet period after the last event has passed.
    pub fn take(&mut self, now: Instant) -> Option<Batch> {
        let last_event = self.last_event?;
        if now < last_event + self.quiet {
            return None;
        }
        self.last_event = None;
        Some(Batch {
            changes: std::mem::take(&mut self.pending),
            paths: std::mem::take(&mut self.paths).into_iter().collect(),
            last_event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_by_what_they_ask_for() {
        let root = Path::new("/repo");
        let change = |p: &str| classify(root, &root.join(p), Layout::Template);
        assert_eq!(change("plugin/src/health.rs"), Some(Change::Source));
        assert_eq!(change("plugin/src/deep/mod.rs"), Some(Change::Source));
        assert_eq!(change("plugin/Cargo.toml"), Some(Change::Source));
        assert_eq!(change("Cargo.lock"), Some(Change::Source));
        assert_eq!(change("plugin.json"), Some(Change::Manifest));
        assert_eq!(change("static/module.js"), Some(Change::Static));
        assert_eq!(change("static/img/logo.svg"), Some(Change::Static));
        assert_eq!(change("CHANGELOG.md"), Some(Change::Static));
        for ignored in [
            "target/debug/plugin",
            "dist/module.js",
            ".git/index",
            "plugin/src/.health.rs.swp",
            "plugin/src/health.rs~",
            "xtask/src/main.rs",
            "notes.txt",
        ] {
            assert_eq!(change(ignored), None, "{ignored}");
        }
        assert_eq!(
            classify(root, Path::new("/elsewhere/plugin.json"), Layout::Template),
            None
        );
        assert_eq!(change("src/plugin.json"), None);

        // A create-plugin app: the manifest is src/plugin.json; webpack has the frontend.
        let app = Layout::CreatePlugin(crate::layout::PackageManager::Npm);
        let change = |p: &str| classify(root, &root.join(p), app);
        assert_eq!(change("src/plugin.json"), Some(Change::Manifest));
        assert_eq!(change("plugin/src/health.rs"), Some(Change::Source));
        assert_eq!(change("Cargo.toml"), Some(Change::Source));
        for ignored in ["plugin.json", "src/module.ts", "README.md", "static/x.js"] {
            assert_eq!(change(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn a_burst_of_events_becomes_one_batch_after_the_quiet_period() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut debouncer = Debouncer::new(Duration::from_millis(100));
        assert_eq!(debouncer.wait(at(0)), None);
        debouncer.record(Change::Source, "plugin/src/a.rs", at(0));
        debouncer.record(Change::Source, "plugin/src/a.rs", at(30));
        debouncer.record(Change::Static, "static/module.js", at(60));
        // Trailing edge: each event pushes the deadline.
        assert_eq!(debouncer.take(at(120)), None);
        assert_eq!(debouncer.wait(at(120)), Some(Duration::from_millis(40)));
        let batch = debouncer.take(at(160)).unwrap();
        assert_eq!(
            batch.changes,
            BTreeSet::from([Change::Static, Change::Source])
        );
        assert_eq!(batch.paths, ["plugin/src/a.rs", "static/module.js"]);
        assert_eq!(batch.strongest(), Change::Source);
        assert_eq!(batch.last_event, at(60));
        assert_eq!(debouncer.take(at(500)), None, "nothing left after a batch");
    }

    #[test]
    fn events_during_a_build_form_the_next_batch() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut debouncer = Debouncer::new(Duration::from_millis(100));
        debouncer.record(Change::Source, "plugin/src/a.rs", at(0));
        let first = debouncer.take(at(100)).unwrap();
        assert_eq!(first.paths, ["plugin/src/a.rs"]);
        // The build runs from 100 ms to 3 s; the edits made meanwhile were queued in the
        // channel and are recorded when the loop reads them again.
        debouncer.record(Change::Manifest, "plugin.json", at(3000));
        debouncer.record(Change::Source, "plugin/src/b.rs", at(3000));
        let second = debouncer.take(at(3100)).unwrap();
        assert_eq!(second.strongest(), Change::Manifest);
        assert_eq!(second.paths, ["plugin.json", "plugin/src/b.rs"]);
    }
}
