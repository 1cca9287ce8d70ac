#!/usr/bin/env python3
"""Checks a Grafana dashboard against the rules of Grafana's dashboard linter that this project follows.

    scripts/check_dashboard.py [--promtool PATH] dashboards/sso-admin-exporter.json

The Go dashboard-linter cannot be installed here, so this enforces its rules (and the project's) on the classic JSON
model: a fixed uid, schemaVersion 39 or newer, not editable, tagged, with a time range and refresh; the variables
datasource, job, instance and region; every panel titled, described, with a unit and a query on $datasource; every
selector filtered by job, instance and (where the series has it) region; counters only inside rate() or increase()
over $__rate_interval. With --promtool, every query is also parsed by Prometheus' own parser (`promtool check
rules`), with the variables substituted. Exits 1 and lists every problem, or prints a one-line summary.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

QUERY_VARIABLES = ("job", "instance", "region")
DATASOURCE = "${datasource}"
# Series of the exporter that carry a region label: everything derived from AWS. Credentials, the exporter's own
# series and the process metrics have none.
REGIONLESS_PREFIXES = ("aws_sso_admin_credentials_", "aws_sso_admin_exporter_", "process_")
# PromQL words that are not metric names.
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
                "quantile"}
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def selectors(expr):
    """Yields (metric, matchers, start, end) for every vector selector in a PromQL expression.

    A small scanner rather than a parser: it skips strings, label lists after by/on/..., and ranges, and treats
    any other identifier not followed by "(" as a metric name. promtool parses the expression for real.
    """
    i = 0
    while i < len(expr):
        char = expr[i]
        if char == '"':
            i = expr.index('"', i + 1) + 1
            continue
        if char == "[":
            i = expr.index("]", i) + 1
            continue
        match = IDENTIFIER.match(expr, i)
        if not match or (i > 0 and (expr[i - 1].isalnum() or expr[i - 1] in "_.$")):
            i += 1
            continue
        word = match.group(0)
        j = match.end()
        rest = expr[j:].lstrip()
        if word in LABEL_LIST_KEYWORDS and rest.startswith("("):
            i = expr.index(")", j) + 1
            continue
        if word in KEYWORDS or rest.startswith("(") or (word in AGGREGATIONS and re.match(r"(by|without)\b", rest)):
            i = j
            continue
        matchers = {}
        end = j
        if rest.startswith("{"):
            open_brace = expr.index("{", j)
            k = open_brace + 1
            while True:
                while k < len(expr) and expr[k].isspace():
                    k += 1
                if expr[k] == "}":
                    break
                m = MATCHER.match(expr, k)
                if not m:
                    raise ValueError(f"cannot read the matchers of {word} at: {expr[k:k + 40]!r}")
                matchers[m.group(1)] = (m.group(2), m.group(3))
                k = m.end()
            end = k + 1
        yield word, matchers, i, end
        i = end


def check_expr(where, expr, problems):
    for metric, matchers, start, end in selectors(expr):
        wanted = list(QUERY_VARIABLES)
        if metric.startswith(REGIONLESS_PREFIXES):
            wanted.remove("region")
        for name in wanted:
            if matchers.get(name) != ("=~", f"${name}"):
                problems.append(f'{where}: {metric} lacks {name}=~"${name}"')
        if metric.endswith(("_total", "_bucket", "_count", "_sum")):
            before = expr[:start].rstrip()
            after = expr[end:].lstrip()
            if not re.search(r"\b(rate|increase)\($", before) or not after.startswith("[$__rate_interval]"):
                problems.append(f"{where}: counter {metric} outside rate()/increase() over [$__rate_interval]")


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def substituted(expr):
    """The query as Prometheus will get it: every variable matches anything, the rate interval is a valid range."""
    for name in QUERY_VARIABLES:
        expr = expr.replace(f"${name}", ".+")
    return expr.replace("$__rate_interval", "1m")


def check(dashboard):
    problems = []
    queries = []
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        problems.append(f"uid must be a fixed string of up to 40 letters, digits, - or _: {uid!r}")
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 39:
        problems.append(f"schemaVersion must be 39 or newer: {dashboard.get('schemaVersion')!r}")
    if dashboard.get("editable") is not False:
        problems.append("editable must be false")
    if not dashboard.get("title"):
        problems.append("the dashboard has no title")
    if not dashboard.get("tags"):
        problems.append("the dashboard has no tags")
    time_range = dashboard.get("time") or {}
    if not time_range.get("from") or not time_range.get("to"):
        problems.append("the dashboard has no default time range")
    if not dashboard.get("refresh"):
        problems.append("the dashboard has no default refresh")

    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("datasource")
    if not source or source.get("type") != "datasource" or source.get("query") != "prometheus":
        problems.append("variable datasource must be of type datasource with query prometheus")
    for name in QUERY_VARIABLES:
        variable = variables.get(name)
        if not variable:
            problems.append(f"variable {name} is missing")
            continue
        where = f"variable {name}"
        if variable.get("type") != "query":
            problems.append(f"{where}: type must be query")
        if (variable.get("datasource") or {}).get("uid") != DATASOURCE:
            problems.append(f"{where}: datasource must be {DATASOURCE}")
        for key, wanted in (("multi", True), ("includeAll", True), ("allValue", ".+"), ("refresh", 2)):
            if variable.get(key) != wanted:
                problems.append(f"{where}: {key} must be {wanted!r}, not {variable.get(key)!r}")
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        inner = re.fullmatch(r"label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)", query or "")
        if not inner or inner.group(2) != name:
            problems.append(f"{where}: query must be label_values(SELECTOR, {name}): {query!r}")
            continue
        # A variable filters by the variables before it, so the choices narrow from job to region.
        earlier = QUERY_VARIABLES[: QUERY_VARIABLES.index(name)]
        for metric, matchers, _, _ in selectors(inner.group(1)):
            for other in earlier:
                if matchers.get(other) != ("=~", f"${other}"):
                    problems.append(f'{where}: {metric} lacks {other}=~"${other}"')
        queries.append((where, substituted(inner.group(1))))

    ids = set()
    for panel in all_panels(dashboard.get("panels", [])):
        kind = panel.get("type")
        title = panel.get("title")
        where = f"panel {title or panel.get('id')!r}"
        if panel.get("id") in ids:
            problems.append(f"{where}: id {panel.get('id')} is used twice")
        ids.add(panel.get("id"))
        if "gridPos" not in panel:
            problems.append(f"{where}: no gridPos")
        if kind == "row":
            if not title:
                problems.append(f"row {panel.get('id')} has no title")
            continue
        if not title:
            problems.append(f"{where}: no title")
        if not panel.get("description"):
            problems.append(f"{where}: no description")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{where}: no unit")
        if (panel.get("datasource") or {}).get("uid") != DATASOURCE:
            problems.append(f"{where}: datasource must be {DATASOURCE}")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no query")
        for target in targets:
            expr = target.get("expr")
            if not expr:
                problems.append(f"{where}: target {target.get('refId')} has no expr")
                continue
            if (target.get("datasource") or {}).get("uid") not in (None, DATASOURCE):
                problems.append(f"{where}: target {target.get('refId')} does not query {DATASOURCE}")
            try:
                check_expr(f"{where} {target.get('refId')}", expr, problems)
            except ValueError as error:
                problems.append(f"{where} {target.get('refId')}: {error}")
            queries.append((f"{where} {target.get('refId')}", substituted(expr)))
    return problems, queries


def parse_with_promtool(promtool, queries, problems):
    """Parses every query with Prometheus' parser: each becomes a recording rule for `promtool check rules`."""
    with tempfile.TemporaryDirectory() as directory:
        for index, (where, expr) in enumerate(queries):
            path = os.path.join(directory, f"query{index}.yml")
            with open(path, "w") as rules:
                json.dump({"groups": [{"name": "dashboard", "rules": [{"record": "q", "expr": expr}]}]}, rules)
            result = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
            if result.returncode != 0:
                problems.append(f"{where}: promtool cannot parse {expr!r}: {result.stdout.strip()} "
                                f"{result.stderr.strip()}")


def main():
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--promtool", help="parse every query with this promtool")
    arguments.add_argument("dashboard")
    options = arguments.parse_args()
    try:
        with open(options.dashboard) as file:
            dashboard = json.load(file)
    except (OSError, ValueError) as error:
        print(f"{options.dashboard}: {error}", file=sys.stderr)
        return 1
    problems, queries = check(dashboard)
    if options.promtool:
        parse_with_promtool(options.promtool, queries, problems)
    for problem in problems:
        print(f"{options.dashboard}: {problem}", file=sys.stderr)
    if problems:
        return 1
    parsed = ", all parsed by promtool" if options.promtool else ""
    print(f"{options.dashboard}: {len(queries)} queries checked{parsed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
