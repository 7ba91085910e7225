#!/usr/bin/env bash
# Load test: POST /v1/checks/kinship on `kinship serve` (SQLite ledger of a
# generated population) against a bare axum endpoint on the same machine,
# measured side by side in one run with wrk.
#
#     benches/load.sh [PERSONS] [DURATION]     (defaults: 100000 persons, 20s)
#
# Needs wrk and sqlite3 (Debian packages wrk, sqlite3).
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:-100000}
duration=${2:-20s}
dir=bench-data/load
mkdir -p "$dir"
cargo build --release --bin kinship --example bare_axum
bin=target/release/kinship
if [ ! -f "$dir/pop-$persons.db" ]; then
  $bin generate --persons "$persons" --seed 7 --out "$dir/pop-$persons.ndjson"
  RUST_LOG=warn $bin import "$dir/pop-$persons.ndjson" --db "$dir/pop-$persons.db" >/dev/null
fi
# Request bodies: mothers and fathers asking about their children (confirmed),
# spouses, and the same pairs with the wrong claim (refused), 20,000 in all.
sqlite3 "$dir/pop-$persons.db" "
  SELECT json_object('owner', json_extract(body,'$.mother'), 'applicant', json_extract(body,'$.child'), 'claim', 'child', 'as_of', '2020-06-01')
    FROM acts WHERE kind='birth' AND json_extract(body,'$.mother') IS NOT NULL LIMIT 8000;
  SELECT json_object('owner', json_extract(body,'$.spouses[0]'), 'applicant', json_extract(body,'$.spouses[1]'), 'claim', 'spouse', 'as_of', '2020-06-01')
    FROM acts WHERE kind='marriage' LIMIT 4000;
  SELECT json_object('owner', json_extract(body,'$.child'), 'applicant', json_extract(body,'$.father'), 'claim', 'grandparent', 'via', 'mother', 'as_of', '2020-06-01')
    FROM acts WHERE kind='birth' AND json_extract(body,'$.father') IS NOT NULL LIMIT 8000;
" > "$dir/bodies.ndjson"
wc -l < "$dir/bodies.ndjson"

RUST_LOG=warn $bin serve --db "$dir/pop-$persons.db" --listen 127.0.0.1:18080 &
kin=$!
target/release/examples/bare_axum 127.0.0.1:18081 &
bare=$!
trap 'kill $kin $bare 2>/dev/null' EXIT
for _ in $(seq 1 120); do curl -sf 127.0.0.1:18080/readyz >/dev/null && break; sleep 0.5; done
curl -sf 127.0.0.1:18080/readyz >/dev/null

for round in 1 2; do
  echo "== round $round: bare axum"
  wrk -t2 -c32 -d"$duration" --latency -s benches/check.lua http://127.0.0.1:18081 "$dir/bodies.ndjson" | grep -E "Requests/sec|50%|99%"
  echo "== round $round: kinship"
  wrk -t2 -c32 -d"$duration" --latency -s benches/check.lua http://127.0.0.1:18080 "$dir/bodies.ndjson" | grep -E "Requests/sec|50%|99%"
done
