//! The chain of crates that pulls an advisory's crate in: through normal dependencies from
//! the plugin's crate (what ships, from `cargo metadata`), or else through Cargo.lock from any
//! workspace member.
use std::collections::{HashMap, VecDeque};

use rustsec::{Lockfile, package::Package};

/// What the plugin's binary is built from: edges of normal dependencies (dev- and
/// build-dependencies do not ship), by `name version`, from the plugin's crate.
pub(super) struct Shipped {
    root: String,
    edges: HashMap<String, Vec<String>>,
}

impl Shipped {
    pub(super) fn from_metadata(metadata: &serde_json::Value, plugin: &str) -> Option<Shipped> {
        let label = |package: &serde_json::Value| {
            format!(
                "{} {}",
                package["name"].as_str().unwrap_or_default(),
                package["version"].as_str().unwrap_or_default()
            )
        };
        let by_id: HashMap<&str, String> = metadata["packages"]
            .as_array()?
            .iter()
            .filter_map(|package| Some((package["id"].as_str()?, label(package))))
            .collect();
        let root = metadata["packages"]
            .as_array()?
            .iter()
            .find(|package| package["name"] == plugin && package["source"].is_null())
            .map(label)?;
        let mut edges: HashMap<String, Vec<String>> = HashMap::new();
        for node in metadata["resolve"]["nodes"].as_array()? {
            let Some(from) = node["id"].as_str().and_then(|id| by_id.get(id)) else {
                continue;
            };
            for dep in node["deps"].as_array().into_iter().flatten() {
                let normal = dep["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()));
                if let (true, Some(to)) = (normal, dep["pkg"].as_str().and_then(|id| by_id.get(id)))
                {
                    edges.entry(from.clone()).or_default().push(to.clone());
                }
            }
        }
        Some(Shipped { root, edges })
    }

    /// The chain from the plugin's crate to `target` (`name version`), when it ships.
    pub(super) fn chain(&self, target: &str) -> Option<Vec<String>> {
        let mut previous: HashMap<&str, &str> = HashMap::new();
        let mut queue = VecDeque::from([self.root.as_str()]);
        let mut seen = std::collections::HashSet::from([self.root.as_str()]);
        while let Some(at) = queue.pop_front() {
            if at == target {
                let mut chain = vec![at.to_owned()];
                let mut at = at;
                while let Some(before) = previous.get(at) {
                    chain.push((*before).to_owned());
                    at = before;
                }
                chain.reverse();
                return Some(chain);
            }
            for next in self.edges.get(at).into_iter().flatten() {
                if seen.insert(next.as_str()) {
                    previous.insert(next.as_str(), at);
                    queue.push_back(next.as_str());
                }
            }
        }
        None
    }
}

/// The shortest chain in Cargo.lock (which does not tell dev-dependencies apart) from a
/// workspace member to `package`, preferring the plugin's crate; and whether it starts there.
pub(super) fn chain(lockfile: &Lockfile, package: &Package, plugin: &str) -> (Vec<String>, bool) {
    let key = |p: &Package| (p.name.to_string(), p.version.to_string());
    let mut dependents: HashMap<(String, String), Vec<&Package>> = HashMap::new();
    for dependent in &lockfile.packages {
        for dependency in &dependent.dependencies {
            dependents
                .entry((dependency.name.to_string(), dependency.version.to_string()))
                .or_default()
                .push(dependent);
        }
    }
    // Breadth first upwards; every path found to a member, the plugin's first.
    let mut previous: HashMap<(String, String), Option<&Package>> = HashMap::new();
    previous.insert(key(package), None);
    let mut queue = VecDeque::from([package]);
    let mut roots = Vec::new();
    while let Some(current) = queue.pop_front() {
        if current.source.is_none() {
            roots.push(current);
        }
        for &dependent in dependents.get(&key(current)).into_iter().flatten() {
            if let std::collections::hash_map::Entry::Vacant(entry) = previous.entry(key(dependent))
            {
                entry.insert(Some(current));
                queue.push_back(dependent);
            }
        }
    }
    let root = roots
        .iter()
        .find(|root| root.name.as_str() == plugin)
        .or_else(|| roots.first());
    let Some(root) = root else {
        return (vec![format!("{} {}", package.name, package.version)], false);
    };
    let mut chain = vec![format!("{} {}", root.name, root.version)];
    let mut at = key(root);
    while let Some(Some(next)) = previous.get(&at) {
        chain.push(format!("{} {}", next.name, next.version));
        at = key(next);
    }
    (chain, root.name.as_str() == plugin)
}
