#!/usr/bin/env bash
# What the access layer costs (key, purpose, audit record before each
# answer): the release binary of a commit before it (OLD, default 93effc0)
# and of this checkout, side by side on one generated population, single
# checks with wrk (-t1 -c64) and a 200,000-line checks batch with curl,
# alternating, two rounds each, with each server's CPU (by thread) and
# context switches per answer read from /proc around each wrk round.
# Usage: benches/audit-cost.sh [persons] [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:-1000000}
duration=${2:-15s}
old=${OLD:-93effc0}
dir=bench-data/audit-cost
mkdir -p "$dir"
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null || sudo apt-get install -y wrk >/dev/null; }
if [ ! -x "$dir/kinship-old" ]; then
  rm -rf "$dir/old-src"
  git worktree add -f "$dir/old-src" "$old" >/dev/null
  (cd "$dir/old-src" && CARGO_TARGET_DIR="$PWD/../../../target" cargo build --release --bin kinship)
  cp target/release/kinship "$dir/kinship-old"
  git worktree remove --force "$dir/old-src"
fi
cargo build --release --bin kinship
new=target/release/kinship
if [ ! -f "$dir/old.db" ]; then
  $new generate --persons "$persons" --seed 7 --out "$dir/pop.ndjson"
  RUST_LOG=warn "$dir/kinship-old" import "$dir/pop.ndjson" --db "$dir/old.db" >/dev/null
  sqlite3 "$dir/old.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  cp "$dir/old.db" "$dir/new.db"
  cp -r "$dir/old.db.snapshots" "$dir/new.db.snapshots" 2>/dev/null || true
  $new clients add bench --scopes checks --db "$dir/new.db" > "$dir/key"
  sqlite3 "$dir/old.db" <<SQL > "$dir/bodies.ndjson"
SELECT json_object('owner', json_extract(body,'\$.mother'), 'applicant', json_extract(body,'\$.child'), 'claim', 'child', 'as_of', '2020-06-01')
  FROM acts WHERE kind='birth' AND json_extract(body,'\$.mother') IS NOT NULL LIMIT 20000;
SQL
  python3 -c "import sys; d=open('$dir/bodies.ndjson').read(); open('$dir/batch.ndjson','w').write(d*10)"
fi
export KINSHIP_KEY=$(cat "$dir/key")
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { for _ in $(seq 1 600); do curl -sf "$1/readyz" >/dev/null && return 0; sleep 0.1; done; return 1; }
op=$(port); np=$(port)
RUST_LOG=warn "$dir/kinship-old" serve --db "$dir/old.db" --listen 127.0.0.1:$op & o=$!
RUST_LOG=warn $new serve --db "$dir/new.db" --listen 127.0.0.1:$np --client-rate 0 & n=$!
trap 'kill $o $n 2>/dev/null' EXIT
ready http://127.0.0.1:$op; ready http://127.0.0.1:$np
# Per thread name of process $1: context switches and CPU ticks, summed.
threads() { for t in /proc/$1/task/*; do echo "$(tr ' ' _ < $t/comm) $(awk '/ctxt_switches/ {s+=$2} END {print s}' $t/status) $(awk '{print $14+$15}' $t/stat)"; done \
  | awk '{c[$1]+=$2; u[$1]+=$3} END {for (k in c) print k, c[k], u[k]}' | sort; }
# wrk against port $1 (server pid $2): req/s, p50, p99; the server's CPU
# per answer, by thread, and its context switches per answer to $3.
wrk_run() {
  threads $2 > "$dir/threads.0"
  wrk -t1 -c64 -d"$duration" --latency -s benches/check.lua "http://127.0.0.1:$1" "$dir/bodies.ndjson" > "$dir/wrk.out"
  threads $2 > "$dir/threads.1"
  local n=$(awk '/requests in/ {print $1}' "$dir/wrk.out") hz=$(getconf CLK_TCK)
  join "$dir/threads.0" "$dir/threads.1" | awk -v n=$n -v hz=$hz \
    '{cs+=$4-$2; cpu+=$5-$3; if ($5>$3) t=t sprintf(" %s %.1f", $1, ($5-$3)*1e6/hz/n)} END {printf "CPU %.1f µs per answer (%s), %.2f context switches per answer\n", cpu*1e6/hz/n, substr(t,2), cs/n}' > "$3"
  awk '/Requests\/sec/ {r=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} END {print r, p50, p99}' "$dir/wrk.out"; }
batch() { curl -sf -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $KINSHIP_KEY" -H 'X-Purpose: bench' \
  -H 'Content-Type: application/x-ndjson' --data-binary @"$dir/batch.ndjson" "http://127.0.0.1:$1/v1/checks/kinship:batch"; }
batch $op >/dev/null; batch $np >/dev/null
for round in 1 2; do
  read -r or op50 op99 < <(wrk_run $op $o "$dir/cpu.old")
  read -r nr np50 np99 < <(wrk_run $np $n "$dir/cpu.new")
  echo "single round $round: before $or req/s (p50 $op50, p99 $op99) | with access+audit $nr req/s (p50 $np50, p99 $np99) | ratio $(python3 -c "print(f'{$nr/$or:.3f}')")"
  echo "  before: $(cat "$dir/cpu.old")"
  echo "  with:   $(cat "$dir/cpu.new")"
done
for round in 1 2 3; do
  ob=$(batch $op); nb=$(batch $np)
  echo "batch round $round: before $ob s | with access+audit $nb s | ratio (throughput) $(python3 -c "print(f'{$ob/$nb:.3f}')")"
done
echo "audit records: $(sqlite3 "$dir/new.db" 'SELECT count(*), sum(persons) FROM audit')"
