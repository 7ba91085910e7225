#!/usr/bin/env bash
# Serving at scale, in one go on a generated population, side by side on
# this machine (the load generators share its cores with the servers):
#
#   1. single checks: a bare axum endpoint (examples/bare_axum.rs) and
#      `kinship serve`, wrk with 1 thread and 64 connections, two rounds;
#   2. a checks batch of 200,000 lines in one POST (curl, and Python's
#      http.client, which writes its whole body before reading);
#   3. a family batch of 100,000 IINs, names included (first, then cached);
#   4. the same checks as indexed SQL joins in PostgreSQL (what a caller
#      would write without us): schema and SQL in benches/sql/, pgbench
#      -M prepared -c 2 -j 2 (after the kinship runs: loading it leaves
#      PostgreSQL busy for a while);
#   5. replica lag: two replicas over one PostgreSQL ledger, records
#      written one by one through A, how long until B answers them.
#
#     benches/load.sh [PERSONS] [DURATION]     (defaults: 1000000 persons, 15s)
#
# Needs sqlite3, curl, python3, psql and pgbench, a PostgreSQL server at
# $KINSHIP_BENCH_PG (default postgres://postgres@127.0.0.1:5432/test; the
# script creates and drops its own databases there), and wrk (installed
# with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
persons=${1:-1000000}
duration=${2:-15s}
pg=${KINSHIP_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}
pg_server=${pg%/*}
dir=bench-data/load
mkdir -p "$dir"
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null || sudo apt-get install -y wrk >/dev/null; }
cargo build --release --bin kinship --example bare_axum
bin=target/release/kinship
db=$dir/pop-$persons.db
if [ ! -f "$db" ]; then
  $bin generate --persons "$persons" --seed 7 --out "$dir/pop-$persons.ndjson"
  RUST_LOG=warn $bin import "$dir/pop-$persons.ndjson" --db "$db" >/dev/null
fi

# Request bodies: mothers asking about their children (confirmed), spouses,
# and children asking about their father as a grandparent via the mother
# (refused): 20,000 in all, the same pairs for wrk, pgbench and the batch.
sqlite3 "$db" <<EOF
CREATE TEMP VIEW b AS SELECT json_extract(body,'\$.child') c, json_extract(body,'\$.mother') m, json_extract(body,'\$.father') f FROM acts WHERE kind='birth';
CREATE TEMP VIEW mar AS SELECT json_extract(body,'\$.spouses[0]') a, json_extract(body,'\$.spouses[1]') b FROM acts WHERE kind='marriage';
CREATE TEMP TABLE dv AS SELECT target_seq t, json_extract(body,'\$.date') d FROM acts WHERE kind='divorce';
CREATE INDEX temp.dv_t ON dv (t);
.mode list
.output $dir/child.csv
SELECT m || ',' || c FROM b WHERE m IS NOT NULL LIMIT 8000;
.output $dir/spouse.csv
SELECT a || ',' || b FROM mar LIMIT 4000;
.output $dir/grand.csv
SELECT c || ',' || f FROM b WHERE f IS NOT NULL LIMIT 8000;
.output $dir/births.csv
SELECT c || ',' || COALESCE(m,'') || ',' || COALESCE(f,'') FROM b;
.output $dir/marriages.csv
SELECT json_extract(a.body,'\$.spouses[0]') || ',' || json_extract(a.body,'\$.spouses[1]') || ',' || json_extract(a.body,'\$.date') || ',' || COALESCE(dv.d, '')
  FROM acts a LEFT JOIN dv ON dv.t = a.seq WHERE a.kind='marriage';
.output $dir/iins.txt
SELECT DISTINCT c FROM b LIMIT 100000;
EOF
python3 - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
rows = []
for name, claim, extra in [("child", "child", {}), ("spouse", "spouse", {}), ("grand", "grandparent", {"via": "mother"})]:
    for l in open(f"{d}/{name}.csv"):
        o, a = l.strip().split(",")
        rows.append(json.dumps({"owner": o, "applicant": a, "claim": claim, **extra, "as_of": "2020-06-01"}))
open(f"{d}/bodies.ndjson", "w").write("\n".join(rows) + "\n")
open(f"{d}/batch.ndjson", "w").write(("\n".join(rows) + "\n") * (200000 // len(rows)))
open(f"{d}/family.ndjson", "w").write("".join(json.dumps({"iin": l.strip()}) + "\n" for l in open(f"{d}/iins.txt")))
EOF

# A client holding every scope; its key and a purpose go with every request.
if [ ! -f "$db.key" ]; then
  $bin clients add "load-$(date +%s)" --scopes checks,acts:write,investigate,audit --db "$db" > "$db.key"
fi
export KINSHIP_KEY=$(cat "$db.key")
auth=(-H "Authorization: Bearer $KINSHIP_KEY" -H "X-Purpose: load-test")

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { for _ in $(seq 1 600); do curl -sf "$1/readyz" >/dev/null && return 0; sleep 0.1; done; echo "$1 never got ready" >&2; return 1; }
kport=$(port); bport=$(port)
RUST_LOG=warn $bin serve --db "$db" --listen 127.0.0.1:$kport --client-rate 0 &
kin=$!
target/release/examples/bare_axum 127.0.0.1:$bport &
bare=$!
pids="$kin $bare"
trap 'kill $pids 2>/dev/null; psql -q "$pg" -c "DROP DATABASE IF EXISTS kinship_peer" -c "DROP DATABASE IF EXISTS kinship_lag" 2>/dev/null' EXIT
ready http://127.0.0.1:$kport

wrk_run() { wrk -t1 -c64 -d"$duration" --latency -s benches/check.lua "http://127.0.0.1:$1" "$dir/bodies.ndjson" \
  | awk '/Requests\/sec/ {r=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} END {print r, p50, p99}'; }
echo "== 1. single checks, wrk -t1 -c64 -d$duration"
for round in 1 2; do
  read -r br bp50 bp99 < <(wrk_run $bport)
  read -r kr kp50 kp99 < <(wrk_run $kport)
  echo "round $round: bare $br req/s (p50 $bp50, p99 $bp99) | kinship $kr req/s (p50 $kp50, p99 $kp99) | ratio $(python3 -c "print(f'{$kr/$br:.2f}')")"
  single=$kr
done

echo "== 2. checks batch, 200,000 lines in one POST, three times per client (median)"
median() { python3 -c "import sys; v=sorted(map(float, sys.argv[1:])); print(v[len(v)//2])" "$@"; }
# One unmeasured batch first: the first answer buffers of this size fault
# their pages in.
curl -sf "${auth[@]}" -H 'Content-Type: application/x-ndjson' --data-binary @"$dir/batch.ndjson" "http://127.0.0.1:$kport/v1/checks/kinship:batch" >/dev/null
# Each client times itself, from sending the request to the answer's end.
for client in curl http.client; do
  rates=()
  for _ in 1 2 3; do
    if [ $client = curl ]; then
      secs=$(curl -sf -o "$dir/batch.out" -w '%{time_total}' "${auth[@]}" -H 'Content-Type: application/x-ndjson' --data-binary @"$dir/batch.ndjson" "http://127.0.0.1:$kport/v1/checks/kinship:batch")
      lines=$(wc -l < "$dir/batch.out")
    else
      read -r lines secs < <(python3 - "$kport" "$dir/batch.ndjson" <<'EOF'
import http.client, os, sys, time
body = open(sys.argv[2], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=120)
began = time.perf_counter()
c.request("POST", "/v1/checks/kinship:batch", body, {"Content-Type": "application/x-ndjson",
          "Authorization": "Bearer " + os.environ["KINSHIP_KEY"], "X-Purpose": "load-test"})
r = c.getresponse()
data = r.read()
took = time.perf_counter() - began
print(data.count(b"\n") if r.status == 200 else -r.status, took)
EOF
)
    fi
    rates+=("$(python3 -c "print($lines/$secs)")")
    echo "$client: $lines answers in $(python3 -c "print(f'{$secs:.3f}')") s"
  done
  batch=$(median "${rates[@]}")
  echo "$client median: $(python3 -c "print(f'{$batch:,.0f}')") checks/s"
done

echo "== 3. family batch, 100,000 IINs in one POST"
for round in first cached; do
  secs=$(curl -sf -o "$dir/family.out" -w '%{time_total}' "${auth[@]}" -H 'Content-Type: application/x-ndjson' --data-binary @"$dir/family.ndjson" "http://127.0.0.1:$kport/v1/family:batch")
  echo "$round: $(wc -l < "$dir/family.out") answers in $secs s"
done
echo "== 4. SQL peer in PostgreSQL, pgbench -M prepared -c 2 -j 2 -T ${duration%s}"
psql -q "$pg" -c "DROP DATABASE IF EXISTS kinship_peer" -c "CREATE DATABASE kinship_peer"
peer=$pg_server/kinship_peer
psql -q "$peer" -f benches/sql/peer-schema.sql
psql -q "$peer" -c "\\copy births FROM '$dir/births.csv' WITH (FORMAT csv)" \
  -c "\\copy marriages FROM '$dir/marriages.csv' WITH (FORMAT csv)" \
  -c "\\copy child_pairs (owner, applicant) FROM '$dir/child.csv' WITH (FORMAT csv)" \
  -c "\\copy spouse_pairs (owner, applicant) FROM '$dir/spouse.csv' WITH (FORMAT csv)" \
  -c "\\copy grand_pairs (owner, applicant) FROM '$dir/grand.csv' WITH (FORMAT csv)"
psql -q "$peer" -f benches/sql/peer-index.sql
sql=$(pgbench -n -M prepared -c 2 -j 2 -T "${duration%s}" -f benches/sql/child.pgbench@8 -f benches/sql/spouse.pgbench@4 \
  -f benches/sql/grand.pgbench@8 "$peer" 2>/dev/null | awk '/^tps/ {print $3}')
echo "pgbench: $sql checks/s | kinship single over HTTP: $single req/s | ratio $(python3 -c "print(f'{$single/$sql:.2f}')")"

echo "checks batch (http.client median) / SQL peer: $(python3 -c "print(f'{$batch/$sql:.1f}')")x"

kill $kin $bare; wait $kin $bare 2>/dev/null || true

echo "== 5. replica lag: two replicas over one PostgreSQL, 2,000 records one by one via A"
psql -q "$pg" -c "DROP DATABASE IF EXISTS kinship_lag" -c "CREATE DATABASE kinship_lag"
lag=$pg_server/kinship_lag
$bin generate --persons 600 --seed 11 --out "$dir/lag.ndjson" 2>/dev/null
rm -rf "$dir/lag-a" "$dir/lag-b"
aport=$(port); rport=$(port)
# A first: it creates the schema.
RUST_LOG=warn $bin serve --db "$lag" --listen 127.0.0.1:$aport --snapshot-dir "$dir/lag-a" &
a=$!
pids="$a"
ready http://127.0.0.1:$aport
KINSHIP_KEY=$($bin clients add lag --scopes checks,acts:write --db "$lag")
RUST_LOG=warn $bin serve --db "$lag" --listen 127.0.0.1:$rport --snapshot-dir "$dir/lag-b" &
b=$!
pids="$a $b"
ready http://127.0.0.1:$rport
python3 - "$aport" "$rport" "$dir/lag.ndjson" <<'EOF'
import http.client, json, os, sys, threading, time
a, b, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lines = [l for l in open(path, "rb") if l.strip()][:2000]
written, seen, done = {}, {}, threading.Event()
def watch():
    c = http.client.HTTPConnection("127.0.0.1", b)
    while not done.is_set():
        c.request("GET", "/readyz"); r = c.getresponse(); r.read()
        seen.setdefault(int(r.getheader("X-Ledger-Seq")), time.monotonic())
threading.Thread(target=watch, daemon=True).start()
c = http.client.HTTPConnection("127.0.0.1", a)
for l in lines:
    c.request("POST", "/v1/acts", l, {"Content-Type": "application/x-ndjson",
              "Authorization": "Bearer " + os.environ["KINSHIP_KEY"]})
    r = c.getresponse(); r.read()
    written[int(r.getheader("X-Ledger-Seq"))] = time.monotonic()
    time.sleep(0.002)
time.sleep(1.5); done.set(); time.sleep(0.1)
seqs = sorted(seen)
lags = []
for s, t in written.items():
    first = next((seen[x] for x in seqs if x >= s), None)
    lags.append(max(0.0, first - t) if first is not None else float("inf"))
lags.sort()
q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] * 1000
print(f"{len(lags)} records: lag p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lags[-1]*1000:.1f} ms")
EOF
