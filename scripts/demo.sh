#!/usr/bin/env bash
# A local demo of the whole alerting path, on loopback, with no AWS account:
#
#   scripts/demo.sh
#
# Starts a fake sso-admin holding one ACTIVE instance and one in CREATE_FAILED, the exporter against it, Prometheus
# with deploy/prometheus/rules.yml, and Alertmanager; prints their URLs; stops everything on Ctrl-C. Needs Swift,
# and the Debian packages prometheus and prometheus-alertmanager (or `prometheus` and `alertmanager` on PATH).
#
# It runs the release binaries in .build/release, the exporter the README's quick start built, and builds (in
# release) only those that are absent: a binary that exists is used as it is, so after changing the sources run
# `swift build -c release` first.
#
# The rules are the shipped ones except that every `for:` is 30s, and said so in the alerts' texts, so
# SSOAdminInstanceCreateFailed fires within a minute instead of five. Ports can be changed with EXPORTER_PORT,
# PROMETHEUS_PORT, ALERTMANAGER_PORT, FAKE_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

exporter_port="${EXPORTER_PORT:-10711}"
prometheus_port="${PROMETHEUS_PORT:-9090}"
alertmanager_port="${ALERTMANAGER_PORT:-9093}"
fake_port="${FAKE_PORT:-10780}"

prometheus=$(command -v prometheus || true)
alertmanager=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$prometheus" ] || [ -z "$alertmanager" ]; then
    echo "demo.sh: needs prometheus and alertmanager on PATH" >&2
    echo "  sudo apt-get install --no-install-recommends prometheus prometheus-alertmanager" >&2
    exit 2
fi
for port in "$exporter_port" "$prometheus_port" "$alertmanager_port" "$fake_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "demo.sh: port $port on 127.0.0.1 is in use (set EXPORTER_PORT, PROMETHEUS_PORT, ALERTMANAGER_PORT" \
            "or FAKE_PORT)" >&2
        exit 2
    fi
done

bin=.build/release
for product in sso-admin-exporter sso-admin-fake; do
    if [ ! -x "$bin/$product" ]; then
        # The first release build compiles every dependency: about 11 minutes on 2 cores. Later ones reuse them.
        echo "--- building $product (swift build -c release --product $product)"
        swift build -c release --product "$product" >/tmp/sso-admin-demo-build.log 2>&1 || {
            tail -40 /tmp/sso-admin-demo-build.log >&2
            exit 1
        }
    fi
done

work=$(mktemp -d)
pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "--- stopping"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap stop INT TERM EXIT

wait_for() { # URL NAME LOG
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "demo.sh: $2 did not start; its log:" >&2
    tail -20 "$3" >&2
    exit 1
}

"$bin/sso-admin-fake" "$fake_port" >"$work/fake.log" 2>&1 &
pids+=($!)
sleep 0.5

AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$fake_port" \
    AWS_ACCESS_KEY_ID=AKIADEMODEMODEMODEMO AWS_SECRET_ACCESS_KEY=demo \
    "$bin/sso-admin-exporter" --web.listen-address "127.0.0.1:$exporter_port" >"$work/exporter.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$exporter_port/-/ready" exporter "$work/exporter.log"

# Every `for:` becomes 30s, and where an alert's text states its own `for:` ("in CREATE_FAILED for 5 minutes", "for
# at least an hour of observation") it is made to say 30 seconds, so a firing alert does not claim five minutes.
# Other durations in the texts (an instance's age, a rate's window) are conditions of the expression and stay.
awk '
    function words(duration, number, unit) {
        number = substr(duration, 1, length(duration) - 1)
        unit = substr(duration, length(duration))
        unit = unit == "s" ? "second" : unit == "m" ? "minute" : "hour"
        if (number == 1) return (unit == "hour" ? "an " : "a ") unit
        return number " " unit "s"
    }
    /^ *- alert: / { stated = "" }
    /^ *for: [0-9]+[smh]$/ {
        stated = words($2)
        sub(/for: [0-9]+[smh]$/, "for: 30s")
    }
    stated != "" {
        gsub("for over " stated, "for over 30 seconds")
        gsub("for at least " stated, "for at least 30 seconds")
        gsub("for " stated, "for 30 seconds")
    }
    { print }
' deploy/prometheus/rules.yml >"$work/rules.yml"
cat >"$work/alertmanager.yml" <<EOF
route:
  receiver: demo
  group_wait: 5s
  group_interval: 10s
receivers:
  - name: demo
EOF
"$alertmanager" --config.file="$work/alertmanager.yml" --storage.path="$work/alertmanager" \
    --web.listen-address="127.0.0.1:$alertmanager_port" --cluster.listen-address= >"$work/alertmanager.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$alertmanager_port/-/ready" Alertmanager "$work/alertmanager.log"

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 15s
  scrape_timeout: 10s
  evaluation_interval: 15s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$alertmanager_port"]
scrape_configs:
  - job_name: sso-admin-exporter
    static_configs:
      - targets: ["127.0.0.1:$exporter_port"]
EOF
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$prometheus_port/-/ready" Prometheus "$work/prometheus.log"

cat <<EOF

The demo is running (logs in $work):
  exporter metrics     http://127.0.0.1:$exporter_port/metrics
  Prometheus graph     http://127.0.0.1:$prometheus_port/graph?g0.expr=aws_sso_admin_instance_status%3D%3D1&g0.tab=1
  Prometheus alerts    http://127.0.0.1:$prometheus_port/alerts
  Alertmanager         http://127.0.0.1:$alertmanager_port/#/alerts
SSOAdminInstanceCreateFailed fires within about a minute. Press Ctrl-C to stop everything.
EOF
wait
