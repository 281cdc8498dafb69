#!/usr/bin/env bash
# Runs every check and test of ranah, installing what the tests need first.
#
# The integration tests use real DNS tools: dig (bind9-dnsutils), named-checkzone (bind9-utils),
# kdig (knot-dnsutils), kzonecheck (knot-dnssecutils), real secondaries: knotd (knot) and
# nsd, the DNSSEC validators delv (bind9-dnsutils), ldns-verify-zone (ldnsutils) and dnsviz,
# and Let's Encrypt's test CA, pebble, with openssl for its listener certificate; a real browser
# (Debian's chromium and chromium-driver) for the API viewer and the console, with a real
# OpenID provider (oidc-provider from npm, run by Debian's nodejs); PostgreSQL 15
# (Debian's postgresql: the integration tests run a second time with every store on a
# throwaway cluster, tests/postgres/cluster.sh, and the tests of several instances start their
# own); the fault tests (tests/faults/) add dnsperf, mount a tmpfs (util-linux's mount, as root) and make a
# clean Debian 12 with debootstrap; the check of the production layout (tests/deploy/check.sh,
# as root) adds systemd-analyze, dpkg-shlibdeps and cargo-deb. They are installed with apt
# (cargo-deb with cargo) when missing (as root, or through sudo).
#
# `--setup-only` installs those tools and makes the virtual environment, then stops: the
# stock-Debian test (tests/faults/stock_debian.rs) runs it in a clean Debian 12 made for the test.
# `--extended` (or RANAH_EXTENDED=1) adds the long runs after the tests: each fuzz target for
# RANAH_FUZZ_SECONDS (default 60) seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

setup_only=false
extended=${RANAH_EXTENDED:-0}
for arg in "$@"; do
  case "$arg" in
    --setup-only) setup_only=true ;;
    --extended) extended=1 ;;
    *)
      echo "usage: $0 [--setup-only | --extended]" >&2
      exit 2
      ;;
  esac
done

declare -A tool_package=(
  [dig]=bind9-dnsutils
  [named-checkzone]=bind9-utils
  [kdig]=knot-dnsutils
  [kzonecheck]=knot-dnssecutils
  [delv]=bind9-dnsutils
  [ldns-verify-zone]=ldnsutils
  [dnsviz]=dnsviz
  [curl]=curl
  [knotd]=knot
  [nsd]=nsd
  [pdftotext]=poppler-utils
  [pdfsig]=poppler-utils
  [pebble]=pebble
  [openssl]=openssl
  [dnsperf]=dnsperf
  [mount]=mount
  [systemd-analyze]=systemd
  [debootstrap]=debootstrap
  [dpkg-shlibdeps]=dpkg-dev
  [ss]=iproute2
  [psql]=postgresql-client
  [runuser]=util-linux
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [node]=nodejs
  [npm]=npm
  [nsupdate]=bind9-dnsutils
  [certbot]=certbot
)
missing=()
# The PostgreSQL server the integration tests run against a second time (its initdb and
# pg_ctl are not on PATH) and its client, psql.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# certbot's RFC 2136 plugin, for the dynamic update test: a module of Debian's certbot.
ls -d /usr/lib/python3/dist-packages/certbot_dns_rfc2136 >/dev/null 2>&1 ||
  missing+=(python3-certbot-dns-rfc2136)
for tool in "${!tool_package[@]}"; do
  # The servers live in /usr/sbin, which is not on every user's PATH.
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${tool_package[$tool]}")
done
# The Python test tools live in a virtual environment: python3 -m venv needs python3-venv.
command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip' >/dev/null 2>&1 ||
  missing+=(python3 python3-venv)
if ((${#missing[@]})); then
  echo "installing test tools: ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python tools go into a virtual environment of the project's own (Debian's Python refuses
# `pip install` into itself): openapi-spec-validator and jsonschema for the OpenAPI tests,
# aiosmtpd for the notification tests' SMTP server, schemathesis for the fault tests' fuzzing of
# the API, psycopg for the tests that reach a PostgreSQL store behind ranah's back
# (tests/fixtures/store_client.py), selenium to drive Debian's chromium through its
# chromedriver (tests/fixtures/browser.py; selenium's own driver download is never used),
# Cloudflare's official SDK for the Cloudflare-compatible API (tests/fixtures/cloudflare/). The
# tests run `python3` and `schemathesis` from it.
venv=target/test-venv
if ! "$venv/bin/python3" -c "import openapi_spec_validator, jsonschema, aiosmtpd, schemathesis, psycopg, selenium, cloudflare" >/dev/null 2>&1; then
  echo "installing the Python test tools into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
    openapi-spec-validator jsonschema aiosmtpd schemathesis "psycopg[binary]" selenium "cloudflare>=5,<6"
fi
export PATH="$PWD/$venv/bin:$PATH"

# The Node.js tools of the console's browser test: the OpenID provider it signs in through
# (oidc-provider) and the accessibility checker it runs in the browser (axe-core), at the
# versions and with the dependencies tests/fixtures/oidc/package-lock.json pins, installed into
# target/ (never globally).
node_dir=target/test-node
if ! cmp -s tests/fixtures/oidc/package-lock.json "$node_dir/package-lock.json" ||
  [ ! -f "$node_dir/node_modules/oidc-provider/lib/index.js" ]; then
  echo "installing the browser test's Node.js tools into $node_dir"
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  cp tests/fixtures/oidc/package.json tests/fixtures/oidc/package-lock.json "$node_dir/"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

if $setup_only; then
  echo "set-up done: the test tools are installed, the Python tools are in $venv"
  exit 0
fi

# The build itself needs Rust 1.94 or later with rustfmt and clippy (rustup's default profile),
# a C compiler and crates.io: the README's prerequisites.
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust with rustup, as the README's prerequisites say" >&2
  exit 1
fi

# cargo-deb builds the Debian package that tests/deploy/check.sh installs.
if ! cargo deb --version >/dev/null 2>&1; then
  echo "installing cargo-deb"
  cargo install --quiet --locked cargo-deb --version 3.8.0
fi

echo "== format"
cargo fmt --all -- --check

echo "== the parts depend inward"
# The pure core imports no I/O crate and no other part of ranah.
if grep -rnE '\b(tokio|sqlx|axum|hickory_[a-z]+|instant_acme|reqwest|lettre)::|crate::(api|service|store|dns|zone|publish|acme|outbox|audit|config|daemon|cli|telemetry)\b' src/domain; then
  echo "src/domain must not depend on I/O crates or on other parts" >&2
  exit 1
fi
# Who may do what is decided in one place: no role's name is written outside the core.
if grep -rnE '"(applicant|front_office|auditor|admin)"' src --include='*.rs' | grep -v '^src/domain/'; then
  echo "roles are the core's (domain::access): compare with access::Role, not with a name" >&2
  exit 1
fi
# Handlers reach the store only through services.
if grep -rnE '\bcrate::store\b|\bsqlx::' src/api src/console; then
  echo "src/api and src/console must not use the store directly: call a service" >&2
  exit 1
fi
# The store persists what it is given: it knows nothing of DNS serving or the API.
if grep -rnE '\bcrate::(dns|api|service|publish|acme|outbox)\b' src/store; then
  echo "src/store must not use dns/, api/ or the services" >&2
  exit 1
fi
# The approver's client is an API client like any other: it knows the server only over HTTP.
if grep -rnE '\bcrate::(api|service|store|dns|zone|publish|acme|outbox|audit|config|daemon|cluster|domain)\b' src/client; then
  echo "src/client must not use the server's parts: it speaks HTTP to the API" >&2
  exit 1
fi

echo "== clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== benchmarks, once each as a smoke test"
# Only the bench targets: `--benches` would also take the library and the binary (both have
# `bench = true`), running the unit tests a second time.
cargo test --locked --bench '*'

echo "== the production layout: the systemd unit, the .deb in a clean Debian 12 root"
tests/deploy/check.sh

echo "== tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Unit, integration and property tests (there are no doctests), then the integration tests once
# more with every store on PostgreSQL; the summary line adds them all up.
# Cargo runs the test binaries one after another: the fault tests (tests/faults/, a binary of
# their own, one test at a time inside it) never share the machine with the integration tests.
cargo test --locked --lib --bins --tests 2>&1 | tee "$log"

echo "== the integration tests again, on PostgreSQL"
# A throwaway PostgreSQL cluster on a loopback port above the tests' own (10000-29999); each
# test makes a database of its own there (tests/it/harness.rs, database_url).
pg_dir=$(mktemp -d /tmp/ranah-pg.XXXXXX)
trap 'tests/postgres/cluster.sh stop "$pg_dir"; rm -rf "$pg_dir" "$log"' EXIT
pg_port=31000
while ss -Hltn "sport = :$pg_port" | grep -q .; do pg_port=$((pg_port + 1)); done
pg_url=$(tests/postgres/cluster.sh start "$pg_dir" "$pg_port")
# (postgres:: and instances:: start clusters of their own: they ran in the first pass.)
TEST_POSTGRES_URL=$pg_url cargo test --locked --test it -- --skip postgres:: --skip instances:: 2>&1 | tee -a "$log"
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}' || true)
failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s += $1} END {print s + 0}' || true)
echo
echo "tests: $passed passed, $failed failed"

if [ "$extended" = 1 ]; then
  echo
  echo "== fuzzing (extended)"
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  tests/fuzz/run.sh "${RANAH_FUZZ_SECONDS:-60}"
fi
