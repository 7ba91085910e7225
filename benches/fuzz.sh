#!/usr/bin/env bash
# Fuzzes everything that reads untrusted bytes, each target for RUNS
# executions (10 million by default), seeded from graph-fixtures/:
#   fuzz/      act_line, replay_log, iin, ndjson_lines  (builds kinship-acts only)
#   fuzz-api/  check_request, family_line               (builds the service)
# On stable Rust, with -s none (no sanitizer; libFuzzer's coverage still
# guides it) and debug assertions on (-a), so an overflow is a crash too.
# Crashes are written to <dir>/artifacts/<target>/; each one found becomes
# a regression test (docs/FUZZING.md).
# Usage: benches/fuzz.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10000000}
shift || true
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --version 0.13.1
fi

corpus=target/fuzz-corpus
rm -rf "$corpus"
mkdir -p "$corpus"/{act_line,replay_log,iin,ndjson_lines,check_request,family_line}
python3 - "$corpus" <<'PY'
import glob, hashlib, itertools, json, re, sys
out = sys.argv[1]
def seed(target, data):
    name = hashlib.sha1(data).hexdigest()
    open(f"{out}/{target}/{name}", "wb").write(data)
iins = set()
for path in sorted(glob.glob("graph-fixtures/*.ndjson")):
    whole = open(path, "rb").read()
    seed("ndjson_lines", b"\x10" + whole)
    for line in whole.splitlines():
        if line.strip():
            seed("act_line", line)
    iins.update(re.findall(rb"\b\d{12}\b", whole))
for i in sorted(iins):
    seed("iin", i)
claims = ["child", "parent", "spouse", "sibling", "in_law"]
sided = ["half_sibling", "grandparent", "grandchild"]
for a, b in itertools.islice(itertools.permutations(sorted(iins), 2), 400):
    a, b = a.decode(), b.decode()
    for c in claims:
        seed("check_request", json.dumps({"owner": a, "applicant": b, "claim": c}).encode())
    for c in sided:
        seed("check_request", json.dumps({"owner": a, "applicant": b, "claim": c, "via": "mother", "as_of": "2010-01-01"}).encode())
for i in sorted(iins):
    seed("family_line", json.dumps({"iin": i.decode(), "as_of": "2010-01-01"}).encode())
PY

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(act_line replay_log iin ndjson_lines check_request family_line)
fi
for t in "${targets[@]}"; do
  case $t in
    check_request|family_line) dir=fuzz-api ;;
    *) dir=fuzz ;;
  esac
  echo "== $t ($dir), $RUNS runs"
  cargo fuzz run --fuzz-dir "$dir" -s none -a "$t" "$corpus/$t" -- \
    -runs="$RUNS" -max_len=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|==|SUMMARY|.*panicked|Done|.*ERROR)" || true
done
