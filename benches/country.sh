#!/usr/bin/env bash
# The whole country: generate a population, import it into SQLite (and into
# PostgreSQL when KINSHIP_BENCH_PG names a server), then start from the
# snapshot the import wrote and from the ledger alone, and print one table.
#
#     benches/country.sh [PERSONS] [DIR]      (defaults: 25000000, bench-data/country)
#     KINSHIP_BENCH_PG=postgres://postgres@127.0.0.1:5432/test benches/country.sh 5000000
#     KINSHIP_BENCH_KEEP=1 benches/country.sh    (reuse the last SQLite import)
#
# Disk: about 600 bytes per record for the NDJSON file plus the SQLite
# ledger (25M persons = 103M records: 15 GB + 36 GB); the PostgreSQL
# ledger is about as large again. Each ledger is removed before it is
# rebuilt; the NDJSON file is kept for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:-25000000}
dir=${2:-bench-data/country}
mkdir -p "$dir"
cargo build --release --bin kinship
bin=$PWD/target/release/kinship
file=$dir/pop-$persons.ndjson
[ -f "$file" ] || $bin generate --persons "$persons" --seed 1 --out "$file"
records=$(wc -l < "$file")
export RUST_LOG=warn
rows=()

# `measure NAME CMD...`: wall seconds and peak RSS of CMD, its output kept.
measure() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$dir/$name.time" "$@" > "$dir/$name.out" 2> "$dir/$name.err"
  read -r secs kb < "$dir/$name.time"
  echo "$name: $secs s, peak RSS $((kb / 1024)) MiB" >&2
}

# `serve_ready NAME ARGS...`: start `kinship serve`, time it to /readyz 200,
# read its resident memory once ready, then stop it (SIGTERM).
serve_ready() {
  local name=$1
  shift
  local port=18087 t0 t1 kb pid
  t0=$(date +%s.%N)
  $bin serve --listen 127.0.0.1:$port --snapshot-every 0 "$@" > "$dir/$name.out" 2> "$dir/$name.err" &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do
    kill -0 $pid 2> /dev/null || { echo "$name: serve exited, see $dir/$name.err" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(date +%s.%N)
  kb=$(awk '/^VmRSS/ { print $2 }' /proc/$pid/status)
  kill -TERM $pid
  wait $pid || true
  awk -v a="$t0" -v b="$t1" -v kb="$kb" 'BEGIN { printf "%.1f %d\n", b - a, kb }' > "$dir/$name.time"
  echo "$name: ready in $(cut -d' ' -f1 "$dir/$name.time") s, RSS $((kb / 1024)) MiB" >&2
}

row() { # name, what, records for a rate (or -)
  local secs kb rate=-
  read -r secs kb < "$dir/$1.time"
  [ "$3" != - ] && rate=$(awk -v n="$3" -v s="$secs" 'BEGIN { printf "%d", n / s }')
  rows+=("$(printf '| %s | %s s | %s | %s MiB |' "$2" "$secs" "$rate" "$((kb / 1024))")")
}

sqlite=$dir/ledger.db
if [ -n "${KINSHIP_BENCH_KEEP:-}" ] && [ -f "$dir/sqlite-import.time" ]; then
  echo "keeping the SQLite ledger of the last run (KINSHIP_BENCH_KEEP)" >&2
else
  rm -rf "$sqlite" "$sqlite"-* "$sqlite".*
  measure sqlite-import $bin import "$file" --db "$sqlite"
fi
row sqlite-import "import into SQLite (judged, written, listed, snapshot)" "$records"
measure sqlite-stats $bin stats --db "$sqlite"
serve_ready sqlite-snapshot-start --db "$sqlite"
row sqlite-snapshot-start "serve to /readyz from the snapshot (SQLite); RSS when ready" -
serve_ready sqlite-ledger-start --db "$sqlite" --no-snapshots
row sqlite-ledger-start "serve to /readyz from the ledger alone (SQLite); RSS when ready" "$records"
snapshot=$(ls -t "$sqlite".snapshots/*.kgs | head -1)
cargo bench --bench scale --no-run > /dev/null 2>&1
# Checks with the graph on 4 KiB pages, then on huge pages (the default).
KINSHIP_HUGE_PAGES=0 KINSHIP_BENCH_SNAPSHOT=$snapshot cargo bench --bench scale > "$dir/checks-small-pages.out" 2>&1
KINSHIP_BENCH_SNAPSHOT=$snapshot cargo bench --bench scale > "$dir/checks.out" 2>&1

if [ -n "${KINSHIP_BENCH_PG:-}" ]; then
  server=${KINSHIP_BENCH_PG%/*}
  psql "$KINSHIP_BENCH_PG" -qc "DROP DATABASE IF EXISTS kinship_country" -c "CREATE DATABASE kinship_country"
  pg=$server/kinship_country
  snaps=$dir/pg-snapshots
  rm -rf "$snaps"
  measure pg-import $bin import "$file" --db "$pg" --snapshot-dir "$snaps"
  row pg-import "import into PostgreSQL (judged, written, listed, snapshot)" "$records"
  serve_ready pg-snapshot-start --db "$pg" --snapshot-dir "$snaps"
  row pg-snapshot-start "serve to /readyz from the snapshot (PostgreSQL); RSS when ready" -
  serve_ready pg-ledger-start --db "$pg" --no-snapshots
  row pg-ledger-start "serve to /readyz from the ledger alone (PostgreSQL); RSS when ready" "$records"
fi

echo
echo "$persons persons, $records records"
echo
echo "| step | wall | records/s | peak RSS (import) / RSS (serve) |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "The graph by part, as kinship stats reports it (started from the snapshot):"
cat "$dir/sqlite-stats.out"
echo
echo "In-process checks over the graph of the snapshot (benches/scale.rs), 4 KiB pages:"
grep -vE "^ *(Compiling|Finished|Running)" "$dir/checks-small-pages.out"
echo
echo "The same on huge pages (the default):"
grep -vE "^ *(Compiling|Finished|Running)" "$dir/checks.out"
