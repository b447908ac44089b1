#!/usr/bin/env bash
# Fills a migrated PostgreSQL database with COUNT citizen accounts, server-side, for measuring
# logins against a large account table. See bench/README.md, "Filling PostgreSQL".
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/xacthuc_fill COUNT=10000000 bench/fill_accounts.sh
#
# Every account spans the rows `xacthuc account add` makes (src/store/accounts.rs): `accounts`,
# its password in `credentials`, its verified default phone in `phones`, its level in
# `account_levels`. All share one Argon2id hash of PASSWORD, made once by the server's own code
# (an `account add` whose row is then deleted). Account i (1-based) has:
#   id number  PPP G YY NNNNNN: province PPP and century/gender digit G chosen by i / 1e6 (10
#              blocks, so up to 10 million unique), YY the birth year, NNNNNN = i mod 1e6;
#   phone      +84 PP NNNNNNN: a mobile prefix chosen by the same block, then i mod 1e6;
#   ids        UUIDs numbered by i (ascending, as UUID v7s made one after another are).
# The four tables' indexes, unique and foreign-key constraints (and the other tables' foreign
# keys to accounts) (as the migrations made them, read
# back from the catalog) are dropped before the insert and built again after it, which is much
# faster than maintaining them row by row. The database must be fresh (no accounts) and ours
# alone during the run.
#
# Knobs: DATABASE_URL (required), COUNT (1000000), PASSWORD (Aa@123456), BIN (the xacthuc
# binary, for `migrate` and the hash; default /work/notes/xacthuc-base or target/release),
# MAINTENANCE_WORK_MEM (1GB, for the index builds).
# Prints the timings of each phase, rows/s and the database size.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
COUNT=${COUNT:-1000000}
PASSWORD=${PASSWORD:-Aa@123456}
MAINTENANCE_WORK_MEM=${MAINTENANCE_WORK_MEM:-1GB}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database of your own}"
BIN=${BIN:-$ROOT/target/release/xacthuc}
[[ -x $BIN ]] || { echo "no xacthuc binary at $BIN (set BIN)" >&2; exit 1; }
((COUNT <= 10000000)) || { echo "COUNT is at most 10000000 (10 id-number blocks)" >&2; exit 1; }

log() { printf '[fill %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
psql_() { psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -X "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

export XACTHUC__THEME__DIR="$ROOT/themes/default" XACTHUC_LOG=warn
unset REDIS_URL
"$BIN" migrate >/dev/null

# The hash: made by the server's own code and parameters, then its account is removed.
probe=$(XACTHUC_ACCOUNT_PASSWORD="$PASSWORD" "$BIN" account add --id-number 096099999999 \
  --name "Fill Probe" --birthdate 01/01/1999 --ial 2 | jq -r .sub)
HASH=$(psql_ -At -c "SELECT secret FROM credentials WHERE account_id = '$probe' AND kind = 'password'")
psql_ -c "DELETE FROM accounts WHERE id = '$probe'"
[[ $HASH == \$argon2id\$* ]] || { echo "no Argon2id hash found" >&2; exit 1; }
before=$(psql_ -At -c "SELECT count(*) FROM accounts")
# Rows already there could collide with the generated ones when the unique indexes come back.
((before == 0)) || { echo "the database already has $before accounts: use a fresh one" >&2; exit 1; }
log "hash made; inserting $COUNT accounts"

TABLES="'accounts','credentials','phones','account_levels'"
t_all=$(now)
t=$(now)
# Drop the constraints and indexes (remembering their definitions), foreign keys first.
psql_ <<SQL
DROP TABLE IF EXISTS bench_fill_ddl;
CREATE TABLE bench_fill_ddl (step int, ddl text);
INSERT INTO bench_fill_ddl
SELECT CASE c.contype WHEN 'p' THEN 1 WHEN 'u' THEN 2 ELSE 4 END,
       format('ALTER TABLE %I ADD CONSTRAINT %I %s', r.relname, c.conname, pg_get_constraintdef(c.oid))
FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
WHERE (r.relname IN ($TABLES) AND c.contype IN ('p', 'u', 'f'))
   OR (c.contype = 'f' AND c.confrelid = 'accounts'::regclass);
INSERT INTO bench_fill_ddl
SELECT 3, indexdef FROM pg_indexes i
WHERE tablename IN ($TABLES) AND schemaname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname);
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.conname, cl.relname FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid
           WHERE (cl.relname IN ($TABLES) AND c.contype IN ('p', 'u', 'f'))
              OR (c.contype = 'f' AND c.confrelid = 'accounts'::regclass)
           ORDER BY c.contype = 'f' DESC LOOP
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', r.relname, r.conname);
  END LOOP;
  FOR r IN SELECT indexname FROM pg_indexes WHERE tablename IN ($TABLES) AND schemaname = 'public' LOOP
    EXECUTE format('DROP INDEX %I', r.indexname);
  END LOOP;
END \$\$;
SQL
log "indexes and constraints dropped ($(since "$t") s)"

t=$(now)
psql_ <<SQL
SET synchronous_commit = off;
CREATE TEMP TABLE blocks (b int PRIMARY KEY, province text, g text, yy int, mobile text);
-- Province of birth, century/gender digit (0/1: born 1900s; 2/3: 2000s), birth year, mobile prefix.
INSERT INTO blocks VALUES
  (0, '002', '0', 90, '90'), (1, '079', '1', 85, '91'), (2, '031', '0', 78, '93'),
  (3, '040', '1', 92, '94'), (4, '048', '2', 3, '96'), (5, '056', '0', 70, '97'),
  (6, '092', '1', 99, '98'), (7, '001', '3', 1, '32'), (8, '079', '0', 65, '33'),
  (9, '036', '1', 88, '34');
CREATE TEMP TABLE gen AS
SELECT i,
       lpad(to_hex(i), 12, '0') AS hex,
       k.province || k.g || lpad(k.yy::text, 2, '0') || lpad((i % 1000000)::text, 6, '0') AS id_number,
       '+84' || k.mobile || lpad((i % 1000000)::text, 7, '0') AS phone,
       make_date(CASE WHEN k.g IN ('2', '3') THEN 2000 ELSE 1900 END + k.yy, 1 + i % 12, 1 + i % 28) AS birthdate,
       (ARRAY['Nguyễn Văn An', 'Trần Thị Bình', 'Lê Văn Cường', 'Phạm Thị Dung', 'Hoàng Văn Em',
              'Vũ Thị Phương', 'Đặng Văn Giang', 'Bùi Thị Hà'])[1 + i % 8] AS full_name
FROM generate_series(1, $COUNT) AS i JOIN blocks k ON k.b = (i - 1) / 1000000;
INSERT INTO accounts (id, subject_type, id_number, full_name, birthdate, ial, registration_method,
                      status, created_at, updated_at, email_verified)
SELECT '0a000000-0000-7000-8000-' || hex, 'citizen', id_number, full_name, birthdate, 2,
       'mobile_subscriber', 'active', now(), now(), false
FROM gen;
INSERT INTO credentials (id, account_id, kind, secret, created_at, updated_at)
SELECT '0c000000-0000-7000-8000-' || hex, '0a000000-0000-7000-8000-' || hex, 'password',
       '$HASH', now(), now()
FROM gen;
INSERT INTO phones (id, account_id, e164, verified, is_default, created_at)
SELECT '0e000000-0000-7000-8000-' || hex, '0a000000-0000-7000-8000-' || hex, phone, true, true, now()
FROM gen;
INSERT INTO account_levels (id, account_id, level, method, at)
SELECT '0f000000-0000-7000-8000-' || hex, '0a000000-0000-7000-8000-' || hex, 2, 'mobile_subscriber', now()
FROM gen;
SQL
insert_s=$(since "$t")
log "rows inserted ($insert_s s)"

t=$(now)
psql_ <<SQL
SET maintenance_work_mem = '$MAINTENANCE_WORK_MEM';
DO \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT ddl FROM bench_fill_ddl ORDER BY step LOOP
    EXECUTE r.ddl;
  END LOOP;
END \$\$;
DROP TABLE bench_fill_ddl;
SQL
index_s=$(since "$t")
log "indexes and constraints built again ($index_s s)"
t=$(now)
psql_ -c "VACUUM ANALYZE accounts, credentials, phones, account_levels"
vacuum_s=$(since "$t")
total_s=$(since "$t_all")
size=$(psql_ -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")
tables=$(psql_ -At -F ' ' -c "SELECT relname || '=' || pg_size_pretty(pg_total_relation_size(relname::regclass))
  FROM (VALUES ('accounts'), ('credentials'), ('phones'), ('account_levels')) AS t(relname)" | tr '\n' ' ')
rate=$(awk -v n="$COUNT" -v s="$total_s" 'BEGIN {printf "%.0f", n / s}')
echo "filled $COUNT accounts in $total_s s (insert $insert_s s, indexes $index_s s, vacuum analyze $vacuum_s s): $rate accounts/s; database $size ($tables)"
