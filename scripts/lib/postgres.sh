# Starts a throwaway Postgres cluster for the tests (sourced by scripts/test).
# Installs Debian's postgresql package when no server binaries are present.
# Exports DRILL_TEST_PG_ADMIN_URL; the cluster is stopped and removed on exit.

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_test_postgres() {
  local bin
  bin=$(pg_bin_dir)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "==> installing PostgreSQL from Debian's packages"
    if [ "$(id -u)" -ne 0 ]; then
      echo "PostgreSQL is missing and this is not root: install it with 'sudo apt-get install postgresql'" >&2
      return 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(pg_bin_dir)
  fi
  local port=${DRILL_TEST_PG_PORT:-55435}
  PG_TEST_DIR=$(mktemp -d /tmp/drill-pg.XXXXXX)
  local run_as=()
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root; Debian's package created the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_TEST_DIR"
    run_as=(runuser -u postgres --)
  fi
  echo "==> starting a throwaway Postgres ($bin) on 127.0.0.1:$port"
  "${run_as[@]}" "$bin/initdb" -D "$PG_TEST_DIR/data" -U postgres -A trust --no-sync >/dev/null
  "${run_as[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/log" -w \
    -o "-p $port -k $PG_TEST_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c synchronous_commit=off" start >/dev/null
  PG_TEST_STOP=("${run_as[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate stop)
  "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -c \
    "CREATE ROLE wordloom LOGIN SUPERUSER PASSWORD 'wordloom'" >/dev/null
  export DRILL_TEST_PG_ADMIN_URL="postgres://wordloom:wordloom@127.0.0.1:$port/postgres"
  export DRILL_TEST_PG_BIN="$bin"
  export DRILL_TEST_PG_DATA="$PG_TEST_DIR/data"
  export DRILL_TEST_PG_PORT="$port"
}

stop_test_postgres() {
  if [ -n "${PG_TEST_DIR:-}" ]; then
    "${PG_TEST_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_TEST_DIR"
  fi
}
