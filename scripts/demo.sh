#!/usr/bin/env bash
# The main job: build casebridge, start it on embedded SQLite, load the sample findings, and show
# the Datadog-compatible API answering about them. Interactive runs keep serving until Ctrl-C;
# non-interactive runs (CI, CASEBRIDGE_DEMO_EXIT=1) stop after the tour.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

listen="${CASEBRIDGE_LISTEN:-127.0.0.1:8080}"
data_dir="${CASEBRIDGE_DEMO_DIR:-./data/demo}"
target_dir="${CARGO_TARGET_DIR:-target}"

echo "== building casebridge"
cargo build -q -p casebridge
bin="$target_dir/debug/casebridge"

echo "== fresh data dir $data_dir (embedded SQLite)"
rm -rf "$data_dir"
mkdir -p "$data_dir"
export CASEBRIDGE_DATA_DIR="$data_dir"
unset DATABASE_URL

keys="$("$bin" keys create --name demo --scopes admin)"
api_key="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])' <<<"$keys")"
app_key="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["app_key"])' <<<"$keys")"
echo "$keys" >"$data_dir/keys.json"

echo "== importing tests/fixtures/findings/sample-findings.json"
"$bin" findings import tests/fixtures/findings/sample-findings.json

"$bin" serve --listen "$listen" >"$data_dir/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://$listen/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://$listen/ready" >/dev/null

api() {
  curl -fsS -H "DD-API-KEY: $api_key" -H "DD-APPLICATION-KEY: $app_key" "$@"
}
count() {
  python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(len(d), "findings:", ", ".join(sorted(x["id"][:24] for x in d)[:5]), "…" if len(d) > 5 else "")'
}

echo "== the API at http://$listen (keys in $data_dir/keys.json)"
for q in '@severity:critical @status:open' 'team:platform' '@finding_type:library_vulnerability -@status:muted' '@package.name:*log4j*'; do
  printf '   filter[query]=%-55s → ' "$q"
  api -G "http://$listen/api/v2/security/findings" --data-urlencode "filter[query]=$q" --data-urlencode "page[limit]=150" | count
done

if [ -t 0 ] && [ -z "${CI:-}" ] && [ "${CASEBRIDGE_DEMO_EXIT:-0}" != "1" ]; then
  echo "== serving; try:"
  echo "   curl -H 'DD-API-KEY: $api_key' -H 'DD-APPLICATION-KEY: $app_key' 'http://$listen/api/v2/security/findings?filter%5Bquery%5D=team:platform'"
  echo "   (Ctrl-C to stop)"
  wait "$server"
fi
echo "== demo finished"
