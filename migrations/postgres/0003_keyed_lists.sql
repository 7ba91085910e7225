-- Per-person and per-dwelling lists of act seqs replace the act_persons
-- table and the residences indexes (same shape as migrations/sqlite/0003).
CREATE TABLE person_acts (
    iin  BIGINT PRIMARY KEY,
    seqs TEXT   NOT NULL                    -- ascending seqs, comma-separated
);
DROP TABLE act_persons;

-- Keyed by a 64-bit hash of the dwelling id (`ledger::dwelling_key`);
-- readers check the residences' own dwelling against the one asked for.
CREATE TABLE dwelling_acts (
    dwelling BIGINT PRIMARY KEY,
    seqs     TEXT   NOT NULL
);
DROP INDEX residences_dwelling;
DROP INDEX residences_person;

-- The lists are built from the ledger itself at the next open (see
-- `Ledger::open`): everything after seq 0 is still to be listed.
INSERT INTO meta (key, value) VALUES ('lists_pending_after', '0');
