-- The ledger: every accepted act record, append-only, in the order it was
-- applied to the graph. Dates are ISO TEXT in both databases (they sort
-- correctly and pass through sqlx's Any driver unchanged).
CREATE TABLE acts (
    seq         INTEGER PRIMARY KEY,        -- monotone, assigned by the single writer
    act_id      TEXT    NOT NULL UNIQUE,    -- the registry's own number
    kind        TEXT    NOT NULL,
    body        TEXT    NOT NULL,           -- canonical JSON: defaults filled in, no nulls
    target_seq  INTEGER REFERENCES acts (seq), -- the act a divorce or annulment names
    source      TEXT    NOT NULL,           -- "file.ndjson:12" or "http:<request id>:3"
    received_at TEXT    NOT NULL            -- RFC 3339, UTC
);

-- Which acts mention which person (for person cards and names). The
-- projections carry no foreign keys: they are written only together with
-- their act, in one transaction, and a check per row slows bulk imports
-- (see BENCHMARKS.md).
CREATE TABLE act_persons (
    iin INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (iin, seq)
) WITHOUT ROWID;

-- Residence registrations, projected from residence acts for household
-- queries. A newer permanent registration ends the older one: that is
-- decided when queried, so an annulment needs no update here.
CREATE TABLE residences (
    seq       INTEGER PRIMARY KEY,
    dwelling  TEXT    NOT NULL,
    person    INTEGER NOT NULL,
    from_date TEXT    NOT NULL,
    to_date   TEXT,                         -- deregistration day (not registered on it)
    type      TEXT    NOT NULL              -- permanent | temporary
);
CREATE INDEX residences_dwelling ON residences (dwelling, from_date);
CREATE INDEX residences_person ON residences (person, from_date);

-- Which acts are annulled, and by which annulment: a small table (courts
-- annul few acts), so "not annulled" is a cheap probe or a small hash on
-- every database, never a scan of the ledger.
CREATE TABLE annulments (
    target_seq INTEGER PRIMARY KEY,
    seq        INTEGER NOT NULL
);

-- Every record that was refused, with why; nothing is dropped silently.
CREATE TABLE refused (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    act_id      TEXT,                       -- when the record had a readable one
    code        TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    raw         TEXT    NOT NULL,           -- the line (first 64 KiB; NUL and bad UTF-8 replaced)
    raw_bytes   INTEGER NOT NULL,           -- the line's full length in bytes
    source      TEXT    NOT NULL,
    line        INTEGER,
    received_at TEXT    NOT NULL
);
CREATE INDEX refused_code ON refused (code);
