#!/bin/sh
# Checks of what operators load: the alerting rules (promtool check + unit tests), the
# Grafana dashboard (structure, metric names, PromQL syntax), and a live /metrics scrape of
# the agent running on examples/ (promtool check metrics, every metric of the README's table).
# promtool comes from Debian's `prometheus` package; run `sh scripts/test.sh` first (.venv).
# Exits non-zero on any finding.
set -eu
cd "$(dirname "$0")/.."

py=.venv/bin/python
[ -x "$py" ] || { echo "no $py: run sh scripts/test.sh first" >&2; exit 2; }

if ! command -v promtool >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  # Where systemd runs, the package also starts a Prometheus server; stop it if unwanted.
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    prometheus >/dev/null
fi

tmp=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -z "$agent_pid" ] || kill -KILL "$agent_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== promtool check rules, promtool test rules"
promtool check rules deploy/prometheus-rules.yaml
promtool test rules tests/prometheus-rules.test.yaml

echo "== dashboard"
# Structure and metric names in Python; every query becomes a recording rule so that
# promtool parses its PromQL (Grafana's variables replaced by plain values).
"$py" - "$tmp/dashboard-queries.yaml" <<'EOF'
import json
import re
import sys

from shipper.observe.metrics import Metrics

SUFFIXES = {"counter": ("_total",), "gauge": ("",), "info": ("_info",),
            "histogram": ("_bucket", "_sum", "_count")}
exposed = {f.name + s for f in Metrics().registry.collect() for s in SUFFIXES[f.type]}

with open("deploy/grafana-dashboard.json") as f:
    board = json.load(f)
problems = []
if not isinstance(board.get("schemaVersion"), int) or board["schemaVersion"] < 36:
    problems.append("schemaVersion missing or older than 36")
for key in ("uid", "title", "panels", "templating"):
    if not board.get(key):
        problems.append(f"no {key}")
variables = {v["name"]: v for v in board["templating"]["list"]}
if variables.get("datasource", {}).get("type") != "datasource":
    problems.append("no datasource variable")
if "node" not in variables.get("node", {}).get("definition", ""):
    problems.append("no node variable over the node label")
ids, queries = set(), []
for panel in board["panels"]:
    title = panel.get("title") or f"panel {panel.get('id')}"
    if panel.get("id") in ids:
        problems.append(f"{title}: duplicate id {panel.get('id')}")
    ids.add(panel.get("id"))
    grid = panel.get("gridPos", {})
    if not all(isinstance(grid.get(k), int) for k in "hwxy") or grid["x"] + grid["w"] > 24:
        problems.append(f"{title}: bad gridPos {grid}")
    if panel.get("type") == "row":
        continue
    if panel.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"{title}: datasource is not the $datasource variable")
    if not panel.get("targets"):
        problems.append(f"{title}: no targets")
    for target in panel.get("targets", []):
        expr = target.get("expr", "")
        if not expr or not target.get("refId"):
            problems.append(f"{title}: a target without expr or refId")
        if target.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{title}: a target not on the $datasource variable")
        if 'node=~"$node"' not in expr:
            problems.append(f"{title}: {expr} ignores the node variable")
        for name in re.findall(r"\bshipper_\w+", expr):
            if name not in exposed:
                problems.append(f"{title}: {name} is not a metric shipper exposes")
        queries.append(expr.replace("$__rate_interval", "5m").replace("$node", ".*"))
with open("deploy/prometheus-rules.yaml") as f:
    for name in re.findall(r"\bshipper_\w+", f.read()):
        if name not in exposed:
            problems.append(f"prometheus-rules.yaml: {name} is not a metric shipper exposes")
for problem in problems:
    print(f"dashboard: {problem}", file=sys.stderr)
with open(sys.argv[1], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, expr in enumerate(queries):
        out.write(f"      - record: dashboard:query{i}\n        expr: {json.dumps(expr)}\n")
print(f"{len(board['panels'])} panels, {len(queries)} queries")
sys.exit(1 if problems else 0)
EOF
promtool check rules "$tmp/dashboard-queries.yaml" >/dev/null

echo "== promtool check metrics on a live scrape"
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SHIPPER_METRICS_ADDR="127.0.0.1:$port" SHIPPER_KUBERNETES=off \
  "$py" -m shipper run --path 'examples/var/log/containers/*.log' \
  --path 'examples/var/log/pods/*/*/*.log.*' --state-dir "$tmp/state" \
  --output "file:$tmp/documents.ndjson" 2>"$tmp/agent.log" &
agent_pid=$!
# Scrape once everything is read and delivered, so histograms and counters have samples.
"$py" - "$port" "$tmp/metrics.txt" <<'EOF'
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

port, out = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
        values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        if values["shipper_records_delivered_total"] > 0 and values["shipper_lag_bytes"] == 0:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("the agent on examples/ delivered nothing within 30 s")
    time.sleep(0.1)
with open(out, "w") as f:
    f.write(text)
print(f"{int(values['shipper_records_delivered_total'])} records delivered")
EOF
promtool check metrics <"$tmp/metrics.txt"
for name in read_bytes_total records_read_total records_delivered_total \
  records_dropped_total records_dead_lettered_total records_retried_total \
  bulk_requests_total bulk_request_duration_seconds buffer_bytes files_watched lag_bytes \
  delivery_latency_seconds rotations_total truncations_total kubernetes_api_errors_total \
  output_up build_info; do
  grep -q "^# TYPE shipper_$name " "$tmp/metrics.txt" || {
    echo "metric shipper_$name missing from /metrics" >&2
    exit 1
  }
done
kill -TERM "$agent_pid"
status=0
wait "$agent_pid" || status=$?
agent_pid=""
[ "$status" -eq 0 ] || { echo "agent exited $status on SIGTERM:" >&2; cat "$tmp/agent.log" >&2; exit 1; }

echo "observe checks passed"
