#!/usr/bin/env bash
# Installs every Debian package that the build, the tests, the benchmarks and the demo need.
# Idempotent: packages already installed are left alone. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  build-essential pkg-config clang clang-format libclang-rt-14-dev
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
  libpq-dev postgresql-15 postgresql-contrib
  libcurl4-openssl-dev libssl-dev libmicrohttpd-dev libjansson-dev libcmocka-dev libexpat1-dev zlib1g-dev
  libargon2-dev  # argon2id password hashes of local accounts (collector/store/auth.c)
  python3 python3-pytest python3-pytest-xdist python3-grpcio python3-protobuf python3-psycopg2 python3-aiosmtpd
  python3-yaml python3-jsonschema python3-prometheus-client
  python3-markdown-it  # renders job summaries as GitHub does, for tests/integration/test_agent_summary.py
  python3-jwt python3-cryptography  # GitHub App JWTs in the GitHub stand-in (tests/integration/ghapp.py)
  chromium wrk curl jq git ca-certificates openssl procps util-linux docker-compose nodejs npm
  time     # /usr/bin/time: peak RSS in tests/integration/test_agent_tests.py
  systemd  # systemd-analyze, for tests/integration/test_deploy_systemd.py
  prometheus  # promtool, for tests/integration/test_deploy_monitoring.py
  nginx    # TLS in front of the collector, for tests/integration/test_compose.py
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere (the machine's own Node 20): accept a working binary.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
