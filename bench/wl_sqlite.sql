-- An allocation-heavy run of sqlite3 (a real program nobody here wrote) for bench/run_paired.py:
-- deterministic (no randomblob), so its output is the same with and without the shim.
--   sqlite3 :memory: < bench/wl_sqlite.sql
PRAGMA cache_size = -65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t SELECT i, printf('key-%08d-%s', (i * 7919) % 200000, substr('abcdefghijklmnop', 1 + i % 16)),
                     zeroblob(16 + (i * 31) % 200) FROM n;
CREATE INDEX t_k ON t(k);
DELETE FROM t WHERE id % 3 = 0;
UPDATE t SET k = k || '-x' WHERE id % 5 = 0;
VACUUM;
SELECT count(*), sum(length(k)), sum(length(v)), min(k), max(k) FROM t;
SELECT substr(k, 1, 6) AS p, count(*) FROM t GROUP BY p ORDER BY p;
