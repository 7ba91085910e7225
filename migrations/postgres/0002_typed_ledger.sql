-- Ledger metadata: this ledger's identity (a snapshot names the ledger it
-- was taken of) and whether an import left secondary indexes to rebuild.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- act_persons gets a separate, droppable index instead of its primary key,
-- so a bulk import can drop it, COPY in seq order and build it once at the
-- end. (Same shape as migrations/sqlite/0002.)
ALTER TABLE act_persons DROP CONSTRAINT act_persons_pkey;
CREATE INDEX act_persons_iin ON act_persons (iin, seq);

-- What replaying the ledger into the graph needs, in a compact binary
-- form (`acts::compact`), one row per written batch.
CREATE TABLE graph_log (
    first_seq BIGINT PRIMARY KEY,
    last_seq  BIGINT NOT NULL,
    data      BYTEA  NOT NULL
);
