-- Who looked a person up, in sorted runs. Each background index pass
-- appends one run, and a run's number leads the key and only grows, so a
-- pass appends at the right edge of the B-tree where a random-key index
-- (iin, audit_id) had every pass rewrite most of its leaf pages (perf:
-- most of SQLite's WAL writes under load). Runs are merged a few at a
-- time (`Ledger::index_audit`), so a lookup seeks in a few dozen at most.
CREATE TABLE audit_runs (
    run     INTEGER PRIMARY KEY,
    level   INTEGER NOT NULL,
    entries INTEGER NOT NULL
);

CREATE TABLE audit_index (
    run      INTEGER NOT NULL,
    iin      INTEGER NOT NULL,
    audit_id INTEGER NOT NULL,
    PRIMARY KEY (run, iin, audit_id)
) WITHOUT ROWID;

-- What the earlier index held becomes the first run: the entries of the
-- records it marked indexed (a pass cut short may have left some of the
-- next ones, which the next pass indexes again).
INSERT INTO audit_index (run, iin, audit_id)
    SELECT 1, iin, audit_id FROM audit_persons
    WHERE audit_id <= coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'audit_indexed_upto'), 0)
    ORDER BY iin, audit_id;
INSERT INTO audit_runs (run, level, entries) SELECT 1, 0, count(*) FROM audit_index;
DROP TABLE audit_persons;
