#!/usr/bin/env bash
# What the test suites need besides node_modules, set up once before `npm test` runs them:
# Debian's Chromium (browser test), promtool (metrics test), redis-server (Redis suites start their
# own for faults) and a Redis answering at TEST_REDIS_URL's address (default 127.0.0.1:6379).
# As root it installs what is missing with apt-get; otherwise it stops with the exact command.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if [ ${#missing[@]} -gt 0 ]; then
  install="apt-get install -y ${missing[*]}"
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test set-up: installing ${missing[*]} (Debian packages)"
    # apt's chatter (debconf notes included) is shown only when the install fails.
    log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
      cat "$log" >&2
      echo "test set-up: apt-get failed; run: $install" >&2
      exit 1
    fi
    rm -f "$log"
  else
    echo "test set-up: the tests need Debian packages that are missing: ${missing[*]}" >&2
    echo "  run:  sudo apt-get update && sudo $install" >&2
    echo "  then: npm test" >&2
    exit 1
  fi
fi

redis_url="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
if ! redis-cli -u "$redis_url" ping >/dev/null 2>&1; then
  if [ -n "${TEST_REDIS_URL:-}" ]; then
    echo "test set-up: no Redis answers at TEST_REDIS_URL ($TEST_REDIS_URL); start it or unset TEST_REDIS_URL" >&2
    exit 1
  fi
  echo "test set-up: starting redis-server on 127.0.0.1:6379 (no persistence)"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0
    sleep 0.1
  done
  echo "test set-up: redis-server did not answer on 127.0.0.1:6379" >&2
  exit 1
fi
