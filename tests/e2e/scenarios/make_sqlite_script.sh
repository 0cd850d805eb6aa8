#!/usr/bin/env bash
# Setup for the sqlite3 e2e scenario: writes workload.sql into the current directory: 100,000
# single-row INSERT statements (seeded random text and numbers) in one transaction, then an
# index, an update and a delete, a VACUUM, and queries printing aggregates and a SHA3 digest of
# the whole table. The scenario runs it with: sqlite3 -bail test.db ".read workload.sql"
set -euo pipefail

{
  echo "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, price REAL);"
  echo "BEGIN;"
  awk 'BEGIN {
    srand(1)
    for (i = 1; i <= 100000; i++)
      printf "INSERT INTO item(name, qty, price) VALUES (%cname-%x-%s%c, %d, %d.%02d);\n",
        39, int(rand() * 1e6), substr("abcdefghijklmnopqrstuvwxyz", 1, 1 + int(rand() * 26)), 39,
        int(rand() * 1000), int(rand() * 500), int(rand() * 100)
  }'
  echo "COMMIT;"
  cat <<'EOF'
CREATE INDEX item_name ON item(name);
UPDATE item SET qty = qty + 1 WHERE id % 7 = 0;
DELETE FROM item WHERE id % 3 = 0;
VACUUM;
SELECT count(*), sum(qty), printf('%.2f', sum(price)), min(name), max(name) FROM item;
SELECT length(name) AS len, count(*) FROM item GROUP BY len ORDER BY len LIMIT 5;
SELECT hex(sha3_query('SELECT * FROM item ORDER BY id'));
PRAGMA integrity_check;
EOF
} >workload.sql
