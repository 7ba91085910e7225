-- Act ids compare byte by byte, as in SQLite: the unique index on them is
-- what a bulk import spends most of the server's time maintaining, and
-- under a database's libc collation (even C.UTF-8) every comparison is a
-- strcoll call (`perf` of a 1M import: _bt_compare, strcoll, varstr_cmp).
-- No query orders by act id in SQL; the answers' tie rules order them in
-- Rust, by bytes.
ALTER TABLE acts ALTER COLUMN act_id TYPE TEXT COLLATE "C";
ALTER TABLE refused ALTER COLUMN act_id TYPE TEXT COLLATE "C";

-- The replay log's blocks are compact binary already: compressing them
-- (TOAST's pglz, 7% of the server's time in that import) gains little.
ALTER TABLE graph_log ALTER COLUMN data SET STORAGE EXTERNAL;
