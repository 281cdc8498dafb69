#!/usr/bin/env bash
# Runs every check and test of ranah, installing what the tests need first.
#
# The integration tests use real DNS tools: dig (bind9-dnsutils), named-checkzone (bind9-utils),
# kdig (knot-dnsutils), kzonecheck (knot-dnssecutils), real secondaries: knotd (knot) and
# nsd, and Let's Encrypt's test CA, pebble, with openssl for its listener certificate. They are
# installed with apt when missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A tool_package=(
  [dig]=bind9-dnsutils
  [named-checkzone]=bind9-utils
  [kdig]=knot-dnsutils
  [kzonecheck]=knot-dnssecutils
  [curl]=curl
  [knotd]=knot
  [nsd]=nsd
  [pdftotext]=poppler-utils
  [pebble]=pebble
  [openssl]=openssl
)
missing=()
for tool in "${!tool_package[@]}"; do
  # The servers live in /usr/sbin, which is not on every user's PATH.
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${tool_package[$tool]}")
done
if ((${#missing[@]})); then
  echo "installing test tools: ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The OpenAPI test validates the document with openapi-spec-validator (PyPI).
if ! python3 -c "import openapi_spec_validator" >/dev/null 2>&1; then
  echo "installing openapi-spec-validator"
  python3 -m pip install --quiet openapi-spec-validator
fi
# The notification test runs a real SMTP server: aiosmtpd (PyPI).
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "installing aiosmtpd"
  python3 -m pip install --quiet aiosmtpd
fi

echo "== format"
cargo fmt --all -- --check

echo "== the pure core imports no adapter"
if grep -rnE '\b(tokio|sqlx|axum|hickory_[a-z]+|instant_acme)::' src/domain; then
  echo "src/domain must not depend on I/O crates" >&2
  exit 1
fi

echo "== clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== benchmarks, once each as a smoke test"
cargo test --locked --benches

echo "== tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Unit, integration and property tests (there are no doctests); the summary line adds them up.
cargo test --locked --lib --bins --tests 2>&1 | tee "$log"
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}' || true)
failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s += $1} END {print s + 0}' || true)
echo
echo "tests: $passed passed, $failed failed"
