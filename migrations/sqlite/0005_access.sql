-- Who may ask (clients and their API keys, stored only as SHA-256
-- hashes), and who asked about whom (the audit, append-only).
CREATE TABLE clients (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    key_hash   BLOB    NOT NULL UNIQUE,     -- SHA-256 of the key
    scopes     TEXT    NOT NULL,            -- space-separated
    created_at INTEGER NOT NULL,            -- Unix microseconds
    revoked_at INTEGER
);

-- One row per answer that revealed personal data. `iins` holds every IIN
-- the answer revealed (sorted, delta-varint encoded: `access::iinset`).
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,           -- Unix microseconds
    client_id   INTEGER NOT NULL REFERENCES clients (id),
    purpose     TEXT    NOT NULL,
    case_ref    TEXT,
    consent_ref TEXT,
    route       TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    persons     INTEGER NOT NULL,
    iins        BLOB    NOT NULL
);

CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;

-- Who looked a person up: small answers are indexed as they are written;
-- large ones (batches) are listed in `audit_pending` and indexed in the
-- background, and read from their `iins` until then.
CREATE TABLE audit_persons (
    iin      INTEGER NOT NULL,
    audit_id INTEGER NOT NULL,
    PRIMARY KEY (iin, audit_id)
) WITHOUT ROWID;

CREATE TABLE audit_pending (
    audit_id INTEGER PRIMARY KEY
);
