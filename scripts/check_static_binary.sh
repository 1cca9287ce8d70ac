#!/usr/bin/env bash
# Proves that deploy/Dockerfile's runtime stage (debian:bookworm-slim with CA certificates) is enough: builds the
# release binary with --static-swift-stdlib as the Dockerfile does, checks with ldd that it needs only libraries
# every slim Debian or Ubuntu image has, then runs it with an empty environment (only the AWS keys) against the
# loopback fake sso-admin and expects a successful collection.
#
#   scripts/check_static_binary.sh
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --scratch-path .build-static --product sso-admin-exporter --static-swift-stdlib \
    >/tmp/sso-admin-exporter-static-build.log 2>&1 || {
    tail -40 /tmp/sso-admin-exporter-static-build.log
    exit 1
}
binary=.build-static/release/sso-admin-exporter

# glibc's libraries (libc, libm, and on older glibc libpthread, libdl, librt), the C++ runtime BoringSSL needs, and
# zlib, which is Priority: required in Debian and so in every slim image.
allowed='^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libz\.so\.1)$'
needed=$(ldd "$binary" | awk '{print $1}')
echo "$binary needs: $(echo "$needed" | tr '\n' ' ')"
unexpected=$(echo "$needed" | grep -Ev "$allowed" || true)
if [ -n "$unexpected" ]; then
    echo "check_static_binary.sh: the binary needs libraries a slim runtime image lacks: $unexpected" >&2
    exit 1
fi

swift build --product sso-admin-fake >/tmp/sso-admin-fake-build.log 2>&1 || {
    tail -40 /tmp/sso-admin-fake-build.log
    exit 1
}
fake_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$(swift build --show-bin-path)/sso-admin-fake" "$fake_port" >/dev/null 2>&1 &
fake=$!
env -i AWS_ACCESS_KEY_ID=AKIASTATICCHECK00000 AWS_SECRET_ACCESS_KEY=static-check \
    AWS_ENDPOINT_URL_STS="http://127.0.0.1:$fake_port" "$binary" \
    --web.listen-address "127.0.0.1:$port" --aws.region us-east-1 \
    --aws.endpoint-url "http://127.0.0.1:$fake_port" >/tmp/sso-admin-exporter-static.log 2>&1 &
exporter=$!
trap 'kill $fake $exporter 2>/dev/null || true' EXIT
# Reads the exposition from stdin; succeeds if aws_sso_admin_collect_success for us-east-1 is 1.
collected='
import re, sys
for line in sys.stdin:
    match = re.match(r"aws_sso_admin_collect_success\{(.*)\}\s+(\S+)$", line.strip())
    if match and "region=\"us-east-1\"" in match.group(1).split(",") and float(match.group(2)) == 1:
        sys.exit(0)
sys.exit(1)'
for _ in $(seq 1 50); do
    if curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | python3 -c "$collected"; then
        echo "the static binary, run with an empty environment, collected from the fake"
        exit 0
    fi
    sleep 0.2
done
echo "check_static_binary.sh: no successful collection; the exporter's log:" >&2
tail -20 /tmp/sso-admin-exporter-static.log >&2
exit 1
