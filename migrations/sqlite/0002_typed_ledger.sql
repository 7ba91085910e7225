-- Ledger metadata: this ledger's identity (a snapshot names the ledger it
-- was taken of) and whether an import left secondary indexes to rebuild.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- act_persons becomes a plain table with a separate index, so a bulk
-- import can drop the index, append in seq order and build it once at the
-- end (a random-key index maintained row by row grows slower with every
-- million records).
CREATE TABLE act_persons_new (
    iin INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
INSERT INTO act_persons_new (iin, seq) SELECT iin, seq FROM act_persons;
DROP TABLE act_persons;
ALTER TABLE act_persons_new RENAME TO act_persons;
CREATE INDEX act_persons_iin ON act_persons (iin, seq);

-- What replaying the ledger into the graph needs, in a compact binary
-- form (`acts::compact`), one row per written batch: a restart without a
-- snapshot reads this instead of parsing every record's JSON again.
CREATE TABLE graph_log (
    first_seq INTEGER PRIMARY KEY,
    last_seq  INTEGER NOT NULL,
    data      BLOB    NOT NULL
);
