#!/usr/bin/env bash
# Soak: mixed load on loopback for a while, then the accounts.
#   benches/soak.sh [seconds=600] [persons=200000]
# Single checks (wrk, 4 connections) beside a Python driver that sends,
# in turn, family lookups, family batches (1,000 lines), checks batches
# (5,000 lines), writes (residence records, 50 per POST) and audit reads.
# Reports RSS of `kinship serve` at start and end, every answer by status
# (zero 5xx expected), the writes accepted and found in the ledger
# afterwards, and the audit records written against the answers given
# (one per answer about persons, one per 8,192 lines of a batch; a record
# may exist for an answer whose client hung up before it arrived).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
persons=${2:-200000}
dir=bench-data/soak
mkdir -p "$dir"
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null || sudo apt-get install -y wrk >/dev/null; }
cargo build --release --bin kinship
bin=target/release/kinship
db=$dir/soak.db
rm -rf "$db" "$db"-* "$db".*
$bin generate --persons "$persons" --seed 3 --out "$dir/pop.ndjson"
RUST_LOG=warn $bin import "$dir/pop.ndjson" --db "$db" >/dev/null
export KINSHIP_KEY=$($bin clients add soak --scopes checks,acts:write,investigate,audit --db "$db")
sqlite3 "$db" "SELECT json_object('owner', json_extract(body,'\$.mother'), 'applicant', json_extract(body,'\$.child'), 'claim', 'child')
  FROM acts WHERE kind='birth' AND json_extract(body,'\$.mother') IS NOT NULL LIMIT 20000" > "$dir/bodies.ndjson"
sqlite3 "$db" "SELECT json_extract(body,'\$.child') FROM acts WHERE kind='birth' LIMIT 20000" > "$dir/iins.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn $bin serve --db "$db" --listen 127.0.0.1:$port --client-rate 0 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
echo "RSS when ready: $(rss) KiB"
( sleep 30; echo "RSS after 30 s of load: $(rss) KiB"; while sleep 60; do echo "RSS: $(rss) KiB"; done ) &
sampler=$!
wrk -t1 -c4 -d"${secs}s" -s benches/check.lua "http://127.0.0.1:$port" "$dir/bodies.ndjson" > "$dir/wrk.out" &
wrkpid=$!
python3 - "$port" "$secs" "$dir" > "$dir/driver.out" <<'EOF'
import http.client, json, os, random, sys, time
port, secs, d = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
key = os.environ["KINSHIP_KEY"]
h = {"Authorization": "Bearer " + key, "X-Purpose": "soak"}
bodies = open(f"{d}/bodies.ndjson").read().splitlines()
iins = open(f"{d}/iins.txt").read().split()
status, audits, accepted, written, n = {}, 0, 0, [], 0
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
def ask(method, path, body=None, ctype="application/json", purpose=True):
    global c
    hh = dict(h) if purpose else {"Authorization": h["Authorization"]}
    hh["Content-Type"] = ctype
    c.request(method, path, body, hh)
    r = c.getresponse(); data = r.read()
    status[r.status] = status.get(r.status, 0) + 1
    return r.status, data
end = time.monotonic() + secs
while time.monotonic() < end:
    n += 1
    s, _ = ask("GET", f"/v1/persons/{random.choice(iins)}/family")
    audits += s in (200, 404)
    lines = "\n".join(json.dumps({"iin": random.choice(iins)}) for _ in range(1000)) + "\n"
    s, _ = ask("POST", "/v1/family:batch", lines, "application/x-ndjson")
    audits += 1 if s == 200 else 0
    lines = "\n".join(random.choice(bodies) for _ in range(5000)) + "\n"
    s, _ = ask("POST", "/v1/checks/kinship:batch", lines, "application/x-ndjson")
    audits += 1 if s == 200 else 0
    recs = []
    for i in range(50):
        act = f"SOAK-{n}-{i}"
        recs.append(json.dumps({"kind": "residence", "act_id": act, "person": random.choice(iins),
                                "dwelling": f"SOAK-D-{n % 500}", "from": "2020-01-01", "type": "temporary"}))
    s, data = ask("POST", "/v1/acts", "\n".join(recs) + "\n", "application/x-ndjson", purpose=False)
    if s == 200:
        accepted += json.loads(data)["accepted"]
    s, _ = ask("GET", f"/v1/persons/{random.choice(iins)}/lookups?limit=20")
    audits += s == 200
print(json.dumps({"rounds": n, "status": status, "audits": audits, "accepted": accepted}))
EOF
wait $wrkpid
kill $sampler 2>/dev/null || true
echo "RSS at end: $(rss) KiB"
sleep 3  # the audit log is moved into the database meanwhile
read -r driver < "$dir/driver.out"
echo "driver: $driver"
wrk_total=$(awk '/requests in/ {print $1}' "$dir/wrk.out")
wrk_bad=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk.out"); wrk_bad=${wrk_bad:-0}
echo "wrk single checks: $wrk_total requests, $wrk_bad non-2xx; $(grep 'Requests/sec' "$dir/wrk.out")"
# Answers given, as the server counted them: 200 and 404 of the routes
# that reveal persons (each batch here is one audit segment).
curl -sf "http://127.0.0.1:$port/metrics" > "$dir/metrics.txt"
given=$(python3 - "$dir/metrics.txt" <<'EOF2'
import re, sys
n = 0
for l in open(sys.argv[1]):
    m = re.match(r'kinship_http_requests_total\{(.*)\} (\d+)', l)
    if not m:
        continue
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    if labels["route"].startswith("/v1/") and labels["route"] not in ("/v1/acts", "/v1/graph/digest") \
            and labels["status"] in ("200", "404"):
        n += int(m.group(2))
print(n)
EOF2
)
stored=$(sqlite3 "$db" "SELECT count(*) FROM acts WHERE act_id LIKE 'SOAK-%'")
audit=$(sqlite3 "$db" "SELECT count(*) FROM audit")
python3 - "$driver" "$wrk_total" "$wrk_bad" "$stored" "$audit" "$given" <<'EOF'
import json, sys
d = json.loads(sys.argv[1]); total, bad, stored, audit, expected = map(int, sys.argv[2:])
fivexx = sum(v for k, v in d["status"].items() if k.startswith("5"))
print(f"5xx: {fivexx} (driver) + wrk non-2xx {bad}")
print(f"writes: {d['accepted']} accepted, {stored} in the ledger -> {'OK' if stored == d['accepted'] else 'LOST OR DOUBLED'}")
# A request whose client hangs up after its record is committed (wrk
# stopping with 4 requests in flight) is recorded but never delivered:
# more records than answers by at most that, never fewer.
extra = audit - expected
print(f"audit: {audit} records, {expected} answers given (server's count; the clients saw {d['audits'] + total - bad}) -> "
      + ("OK" if 0 <= extra <= 4 else "MISMATCH") + (f" ({extra} recorded for clients that hung up)" if extra else ""))
EOF
