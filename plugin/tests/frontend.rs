//! The app page in static/module.js, rendered under node with stand-ins for Grafana's
//! modules. Skipped, with the reason printed, when node is not installed.
use std::{path::Path, process::Command};

const SCRIPT: &str = r#"
const path = process.argv[1];
let exported;
global.define = (deps, factory) => {
  const React = { createElement: (type, props, ...children) => ({ type, props: props || {}, children: children.flat() }) };
  const data = { AppPlugin: class { setRootPage(page) { this.root = page; return this; } } };
  exported = factory(data, { config: { bootData: { user: { orgRole: 'Viewer' } } } }, React);
};
require(path);
const text = (node) => node == null ? '' : typeof node !== 'object' ? String(node) : node.children.map(text).join('|');
const has = (node, type) => node != null && typeof node === 'object' && (node.type === type || node.children.some((c) => has(c, type)));
const checks = [
  { name: 'mail', address: '10.0.0.5:25', status: 'up', latencyMs: 1.234, banner: '220 ESMTP', checkedAt: '2026-11-24T06:00:00Z' },
  { name: 'backup', address: '', status: 'down', error: 'disk full', checkedAt: null },
];
const editor = exported.renderChecks({ loading: false, checks }, true, () => {});
const viewer = exported.renderChecks({ loading: false, checks }, false, () => {});
const empty = exported.renderChecks({ loading: false, checks: [] }, false, () => {});
const denied = exported.renderChecks({ loading: false, checks: [], error: 'this route needs the Viewer role or above' }, false, () => {});
console.log(JSON.stringify({
  root: typeof exported.plugin.root,
  editorText: text(editor), editorButton: has(editor, 'button'), viewerButton: has(viewer, 'button'),
  emptyText: text(empty), deniedText: text(denied),
}));
"#;

#[test]
fn app_page_lists_results_and_offers_run_now_to_editors() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static/module.js");
    let output = match Command::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg(&module)
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            let reason = format!(
                "node is not available ({error}); install Node.js to test static/module.js"
            );
            harness::skip(
                "app_page_lists_results_and_offers_run_now_to_editors",
                &reason,
            );
            return;
        }
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["root"], "function");
    let editor = result["editorText"].as_str().unwrap();
    for expected in [
        "mail",
        "10.0.0.5:25",
        "up",
        "1.2 ms",
        "220 ESMTP",
        "backup",
        "(reported)",
        "disk full",
        "Run now",
    ] {
        assert!(editor.contains(expected), "{expected} in {editor}");
    }
    assert_eq!(result["editorButton"], true);
    assert_eq!(result["viewerButton"], false);
    assert!(
        result["emptyText"]
            .as_str()
            .unwrap()
            .contains("No targets are configured")
    );
    assert!(
        result["deniedText"]
            .as_str()
            .unwrap()
            .contains("needs the Viewer role")
    );
}
