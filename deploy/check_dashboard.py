#!/usr/bin/env python3
"""Checks a Grafana dashboard JSON the way Grafana would trip over it, without a Grafana:
structure (ids, grid, datasource references, targets), that it shows what operators need,
and that every query is valid PromQL (each becomes a recording rule for `promtool check rules`).

    deploy/check_dashboard.py deploy/grafana/tokenbroker.json

Exits non-zero listing every problem found.
"""

import json
import re
import subprocess
import sys
import tempfile

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {"stat", "timeseries", "table", "gauge", "bargauge", "text", "row", "heatmap"}
# What the dashboard must show (README, "Operating it"): each needs one of these in a query.
REQUIRED = {
    "token answers by source": "tokenbroker_token_answers_total",
    "refreshes and their outcomes": "tokenbroker_refreshes_total",
    "vendor calls by step and outcome": "tokenbroker_vendor_requests_total",
    "vendor latency": "tokenbroker_vendor_request_duration_seconds_bucket",
    "backoffs": "tokenbroker_backoffs_total",
    "connections needing re-auth": 'status="needs_reauth"',
    "database availability": "tokenbroker_database_up",
    "refresh tokens near their end": "tokenbroker_connection_refresh_token_expiry_timestamp_seconds",
}
# Grafana's variables, replaced by what they expand to before PromQL is checked.
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", '"$job"': '".+"'}


def check(dashboard):
    problems = []
    for key, kind in [("title", str), ("uid", str), ("schemaVersion", int), ("panels", list), ("templating", dict)]:
        if not isinstance(dashboard.get(key), kind):
            problems.append(f"top level: {key} must be a {kind.__name__}")
    if problems:
        return problems, []
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"]):
        problems.append(f"uid {dashboard['uid']!r}: at most 40 of [A-Za-z0-9_-]")
    if dashboard["schemaVersion"] < 36:
        problems.append("schemaVersion below 36 (Grafana 9): datasource references by uid need 36+")
    variables = {v.get("name"): v for v in dashboard["templating"].get("list", [])}
    ds_var = variables.get("datasource", {})
    if ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
        problems.append("templating: needs a variable `datasource` of type datasource, query prometheus")
    for name, var in variables.items():
        if var.get("type") == "query" and var.get("datasource") != DATASOURCE:
            problems.append(f"templating: variable {name} must query {DATASOURCE}")

    queries = []
    ids = set()
    cells = {}
    for i, panel in enumerate(dashboard["panels"]):
        where = f"panel {i} ({panel.get('title', '?')!r})"
        pid = panel.get("id")
        if not isinstance(pid, int) or pid in ids:
            problems.append(f"{where}: id must be a unique integer, got {pid!r}")
        ids.add(pid)
        if panel.get("type") not in PANEL_TYPES:
            problems.append(f"{where}: unknown type {panel.get('type')!r}")
        if not panel.get("title"):
            problems.append(f"{where}: no title")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh"):
            problems.append(f"{where}: gridPos needs integer x, y, w, h")
            continue
        if grid["x"] < 0 or grid["y"] < 0 or grid["w"] < 1 or grid["h"] < 1 or grid["x"] + grid["w"] > 24:
            problems.append(f"{where}: gridPos {grid} is outside the 24-column grid")
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                if (x, y) in cells:
                    problems.append(f"{where}: overlaps {cells[(x, y)]} at column {x}, row {y}")
                    break
                cells[(x, y)] = where
            else:
                continue
            break
        if panel.get("type") in {"row", "text"}:
            continue
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{where}: datasource must be {DATASOURCE}")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            problems.append(f"{where}: refIds must be present and unique, got {refs}")
        for t in targets:
            if t.get("datasource", DATASOURCE) != DATASOURCE:
                problems.append(f"{where} {t.get('refId')}: datasource must be {DATASOURCE}")
            if not (t.get("expr") or "").strip():
                problems.append(f"{where} {t.get('refId')}: empty expr")
            else:
                queries.append((pid, t.get("refId"), t["expr"]))

    everything = " ".join(q for _, _, q in queries)
    for what, needle in REQUIRED.items():
        if needle not in everything:
            problems.append(f"shows no {what} (no query uses {needle})")
    return problems, queries


def promql_problems(queries):
    """Every query as a recording rule: `promtool check rules` parses each expression."""
    rules = []
    for pid, ref, expr in queries:
        for var, value in VARIABLES.items():
            expr = expr.replace(var, value)
        if "$" in expr:
            return [f"panel {pid} {ref}: unexpanded variable in {expr!r}"]
        rules.append({"record": f"dashboard_check:panel_{pid}:{ref}", "expr": expr})
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        # JSON is YAML: no YAML library needed.
        json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f)
        f.flush()
        run = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    return [] if run.returncode == 0 else [f"PromQL: {run.stdout}{run.stderr}"]


def main(paths):
    failed = False
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                dashboard = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: not a readable JSON file: {e}")
            failed = True
            continue
        problems, queries = check(dashboard)
        if not problems:
            problems = promql_problems(queries)
        for p in problems:
            print(f"{path}: {p}")
        if problems:
            failed = True
        else:
            print(f"{path}: {len(dashboard['panels'])} panels, {len(queries)} queries: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else "usage: check_dashboard.py DASHBOARD.json…")
