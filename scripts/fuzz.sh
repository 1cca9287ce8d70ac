#!/usr/bin/env bash
# Fuzzes the exporter's parsers with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz.sh [RUNS_PER_TARGET] [TARGET...]
#
# Builds sso-admin-exporter-fuzz with -sanitize=fuzzer,address into .build-fuzz, then runs each target for
# RUNS_PER_TARGET executions (default 10000000) from the seed corpus in Fuzz/corpus/TARGET. New inputs go to a
# scratch corpus under /tmp, so the committed seeds stay small. A crash leaves its input in Fuzz/regressions/TARGET
# (commit it: swift test replays every file there) and makes the script exit 1. The last line of each target's
# run ("Done N runs in S second(s)") is printed, for the figures in docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10000000}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(list-instances-page xml shared-config credentials-document text-writer config-file http-response instance-details)

# lld: gold stops with an internal error on the sanitizer runtime's symbols.
swift build -c release --scratch-path .build-fuzz --product sso-admin-exporter-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld >/tmp/sso-admin-exporter-fuzz-build.log 2>&1 || {
    tail -40 /tmp/sso-admin-exporter-fuzz-build.log
    exit 1
}
fuzzer=.build-fuzz/release/sso-admin-exporter-fuzz

status=0
for target in "${targets[@]}"; do
    work=$(mktemp -d)
    mkdir -p "Fuzz/regressions/$target"
    cp "Fuzz/corpus/$target"/* "$work"/
    log="$work.log"
    if FUZZ_TARGET="$target" "$fuzzer" -runs="$runs" -max_len=4096 -rss_limit_mb=1024 -timeout=10 \
        -artifact_prefix="Fuzz/regressions/$target/" "$work" >"$log" 2>&1; then
        echo "$target: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
    else
        echo "$target: FAILED (input kept in Fuzz/regressions/$target/)"
        grep -E 'ERROR|Fatal|SUMMARY|precondition' "$log" | head -5
        status=1
    fi
    rm -rf "$work" "$log"
done
exit $status
