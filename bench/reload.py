#!/usr/bin/env python3
"""Reruns the reload figures of BENCHMARKS.md (issue 33): `cargo xtask dev --watch` with the
Grafana stand-in (harness's grafana-standin: Grafana's HTTP API and process manager, which
checks every 100 ms and waits 500 ms before it starts a plugin that exited), N one-line
edits of plugin/src/health.rs, side by side in one run:

  handover  the plugin runtime's in-place handover (SIGUSR1, exec, same PID)
  restart   today's restart (the runtime's handover marker edited out, so dev stops the
            process and the process manager starts the new binary)

Each edit is timed from the write to the first CheckHealth through the stand-in's HTTP API
(/api/plugins/<id>/health, polled every 5 ms) that answers the new message; meanwhile a
second client calls that API without pause and counts every answer that is not 200 OK.
The xtask's "Reloaded" lines give the build time and, after the binary was swapped, when the
first call through the stand-in was served by the new code.
Usage: python3 bench/reload.py [EDITS]   (default 20; restores the files it edits)"""
import base64, json, os, re, signal, statistics, subprocess, sys, threading, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(root)
edits = int(sys.argv[1]) if len(sys.argv) > 1 else 20
# A target directory of its own: the tests' scratch copies build a `plugin` binary of their
# own (edited) into the shared one, and cargo does not copy a fresh build's file back.
target = os.path.abspath("target/bench-reload")
env = dict(os.environ, CARGO_TERM_COLOR="never", GF_SECURITY_ADMIN_PASSWORD="bench",
           CARGO_TARGET_DIR=target)
subprocess.run(["cargo", "build", "-q", "-p", "harness", "--bin", "grafana-standin"], check=True, env=env)
standin = os.path.join(target, "debug", "grafana-standin")
source, runtime = "plugin/src/health.rs", "grafana-plugin-runtime/src/handover.rs"
original, original_runtime = open(source).read(), open(runtime).read()
# The summary CheckHealth gives with the repository's provisioning/ (its example targets,
# which the allow-list refuses without a connection) or without it.
marker = '"{} target{} configured:'
port = 3998
url = f"http://127.0.0.1:{port}/api/plugins/acme-servicechecks-app/health"
auth = "Basic " + base64.b64encode(b"admin:bench").decode()

def health():
    request = urllib.request.Request(url, headers={"Authorization": auth})
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return answer.status, json.load(answer).get("message", "")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (OSError, ValueError):
        return 0, ""

def wait_for(prefix, timeout=180):
    deadline = time.monotonic() + timeout
    while not health()[1].startswith(prefix):
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {prefix!r}; see target/dev/bench.log")
        time.sleep(0.005)

def wait_for_any(timeout=300):
    """Until CheckHealth answers at all (the first build, Grafana's start)."""
    deadline = time.monotonic() + timeout
    while health()[0] != 200:
        if time.monotonic() > deadline:
            sys.exit("the plugin never served; see target/dev/bench-*.log")
        time.sleep(0.05)

def run(mode):
    with open(runtime, "w") as f:
        f.write(original_runtime if mode == "handover" else
                original_runtime.replace("grafana-plugin-runtime:handover:v1", "grafana-plugin-runtime:handover:xx"))
    os.makedirs("target/dev", exist_ok=True)
    log = open(f"target/dev/bench-{mode}.log", "w")
    dev = subprocess.Popen(["cargo", "xtask", "dev", "--watch", "--grafana", standin, "--port", str(port)],
                           stdout=subprocess.DEVNULL, stderr=log, env=env)
    counts = {"calls": 0, "failed": 0}
    polling = threading.Event()
    def poll():
        while not polling.is_set():
            status, _ = health()
            counts["calls"] += 1
            counts["failed"] += status != 200
    serving = []
    try:
        wait_for_any()
        time.sleep(1.0)
        poller = threading.Thread(target=poll)
        poller.start()
        started_all = time.monotonic()
        for edit in range(1, edits + 1):
            started = time.monotonic()
            with open(source, "w") as f:
                f.write(original.replace(marker, f'"Bench {mode} {edit}: {{}} target{{}} configured:'))
            wait_for(f"Bench {mode} {edit}:")
            serving.append(time.monotonic() - started)
            time.sleep(0.3)
        polling.set()
        poller.join()
        elapsed = time.monotonic() - started_all
    finally:
        polling.set()
        with open(source, "w") as f:
            f.write(original)
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=60)
    lines = [l for l in open(f"target/dev/bench-{mode}.log") if "Reloaded" in l]
    builds = [float(m.group(1)) for l in lines if (m := re.search(r"build ([\d.]+) s", l))]
    served = [int(m.group(1)) for l in lines if (m := re.search(r"first call served (\d+) ms", l))]
    return {
        "serving_ms": statistics.median(serving) * 1000,
        "serving_max_ms": max(serving) * 1000,
        "build_s": statistics.median(builds[-edits:]) if builds else float("nan"),
        "served_ms": statistics.median(served[-edits:]) if served else float("nan"),
        "calls": counts["calls"],
        "calls_per_s": counts["calls"] / elapsed,
        "failed": counts["failed"],
        "lines": lines[-1].strip() if lines else "",
    }

try:
    results = {mode: run(mode) for mode in ("handover", "restart")}
finally:
    with open(runtime, "w") as f:
        f.write(original_runtime)
print(f"{edits} one-line edits each, median (max):")
for mode, r in results.items():
    print(f"  {mode:8}  save -> new code serving {r['serving_ms']:.0f} ms ({r['serving_max_ms']:.0f}),"
          f" build {r['build_s']:.2f} s, save -> served minus build {r['serving_ms'] - r['build_s'] * 1000:.0f} ms;"
          f" {r['calls']} calls ({r['calls_per_s']:.0f}/s), {r['failed']} failed;"
          f" dev's own 'first call served' after the swap {r['served_ms']:.0f} ms")
    print(f"            last: {r['lines']}")
h, s = results["handover"], results["restart"]
print(f"handover / restart: {h['serving_ms'] / s['serving_ms']:.2f}x")
