-- The PostgreSQL ledger's 0004 makes act ids compare byte by byte and
-- stops compressing the replay log. SQLite already does both (BINARY is
-- its default collation; it never compresses): nothing to change, and the
-- two ledgers keep the same migration versions.
SELECT 1;
