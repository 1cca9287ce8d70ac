#!/usr/bin/env python3
"""Generates the Kubernetes objects that carry files kept elsewhere in the repository, so they are never hand copies:

- deploy/kubernetes/prometheusrule.yaml: a PrometheusRule (prometheus-operator) holding deploy/prometheus/rules.yml;
- deploy/kubernetes/grafana-dashboard.yaml: a ConfigMap for Grafana's dashboard sidecar holding
  dashboards/sso-admin-exporter.json;
- the same two in deploy/kubernetes/sharded/, with copies of deploy/kubernetes/serviceaccount.yaml and
  networkpolicy.yaml: kustomize cannot take deploy/kubernetes as a base from a directory inside it.

    python3 scripts/generate_kubernetes.py          # writes every file
    python3 scripts/generate_kubernetes.py --check  # exits 1 if any differs from what it would write (CI)

The rules are embedded as text, comments and layout included, so the two files read the same.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = "# Generated from {source} by scripts/generate_kubernetes.py: edit the source, run the script.\n"
COPY_HEADER = "# Copied from {source} by scripts/generate_kubernetes.py: edit that file, run the script.\n"
LABELS = """  labels:
    app.kubernetes.io/name: sso-admin-exporter
    app.kubernetes.io/part-of: sso-admin-exporter
"""


def read(path):
    with open(os.path.join(ROOT, path)) as file:
        return file.read()


def indented(text, spaces):
    return "".join((" " * spaces + line) if line.strip() else line for line in text.splitlines(keepends=True))


def prometheus_rule():
    rules = read("deploy/prometheus/rules.yml")
    groups = rules[rules.index("groups:"):]
    return (
        HEADER.format(source="deploy/prometheus/rules.yml")
        + "apiVersion: monitoring.coreos.com/v1\n"
        + "kind: PrometheusRule\n"
        + "metadata:\n"
        + "  name: sso-admin-exporter\n"
        + LABELS
        + "spec:\n"
        + indented(groups, 2)
    )


def dashboard_config_map():
    dashboard = json.loads(read("dashboards/sso-admin-exporter.json"))
    compact = json.dumps(dashboard, indent=1, sort_keys=False)
    return (
        HEADER.format(source="dashboards/sso-admin-exporter.json")
        + "# Grafana's dashboard sidecar (the Grafana Helm chart's sidecar.dashboards) loads ConfigMaps with this label.\n"
        + "apiVersion: v1\n"
        + "kind: ConfigMap\n"
        + "metadata:\n"
        + "  name: sso-admin-exporter-dashboard\n"
        + "  labels:\n"
        + '    grafana_dashboard: "1"\n'
        + "    app.kubernetes.io/name: sso-admin-exporter\n"
        + "    app.kubernetes.io/part-of: sso-admin-exporter\n"
        + "  annotations:\n"
        + "    checkov.io/skip1: CKV_K8S_21=The namespace (monitoring) is set by kustomization.yaml\n"
        + "data:\n"
        + "  sso-admin-exporter.json: |\n"
        + indented(compact + "\n", 4)
    )


def copy_of(path):
    return lambda: COPY_HEADER.format(source=path) + read(path)


OUTPUTS = {
    "deploy/kubernetes/prometheusrule.yaml": prometheus_rule,
    "deploy/kubernetes/grafana-dashboard.yaml": dashboard_config_map,
    # The sharded kit (deploy/kubernetes/sharded/kustomization.yaml) runs the exporter as a StatefulSet; the objects
    # that do not depend on how it runs are these.
    "deploy/kubernetes/sharded/serviceaccount.yaml": copy_of("deploy/kubernetes/serviceaccount.yaml"),
    "deploy/kubernetes/sharded/networkpolicy.yaml": copy_of("deploy/kubernetes/networkpolicy.yaml"),
    "deploy/kubernetes/sharded/prometheusrule.yaml": prometheus_rule,
    "deploy/kubernetes/sharded/grafana-dashboard.yaml": dashboard_config_map,
}


def main(arguments):
    check = arguments == ["--check"]
    if arguments and not check:
        print(__doc__, file=sys.stderr)
        return 2
    stale = []
    for path, generate in OUTPUTS.items():
        text = generate()
        full = os.path.join(ROOT, path)
        current = open(full).read() if os.path.exists(full) else None
        if current == text:
            continue
        if check:
            stale.append(path)
        else:
            with open(full, "w") as file:
                file.write(text)
            print(f"wrote {path}")
    for path in stale:
        print(f"{path} differs from its source: run python3 scripts/generate_kubernetes.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
