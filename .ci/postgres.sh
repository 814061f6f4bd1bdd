#!/usr/bin/env bash
# Optional: start this machine's PostgreSQL server (Debian's postgresql package) with a throwaway
# database for the ledger tests, and print its URL. Prints nothing, and exits 0, when there is no
# server to start or anything fails: those tests are then skipped, SQLite is tested regardless.
set -uo pipefail
command -v pg_lsclusters >/dev/null 2>&1 || exit 0
[ "$(id -u)" = 0 ] || exit 0
read -r version cluster _ < <(pg_lsclusters -h 2>/dev/null | head -n 1) || exit 0
[ -n "${version:-}" ] || exit 0
pg_ctlcluster "$version" "$cluster" start >/dev/null 2>&1 || true
python3 -m pip install --quiet -e '.[postgres]' >/dev/null 2>&1 || exit 0
sql() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAtc \"$1\"" 2>/dev/null; }
for _ in $(seq 1 20); do sql "SELECT 1" >/dev/null && break; sleep 0.5; done
[ "$(sql "SELECT 1 FROM pg_roles WHERE rolname = 'ordersync_ci'")" = 1 ] \
  || sql "CREATE ROLE ordersync_ci LOGIN PASSWORD 'ordersync_ci'" || exit 0
[ "$(sql "SELECT 1 FROM pg_database WHERE datname = 'ordersync_ci'")" = 1 ] \
  || sql "CREATE DATABASE ordersync_ci OWNER ordersync_ci" || exit 0
echo "postgresql+psycopg://ordersync_ci:ordersync_ci@127.0.0.1/ordersync_ci"
