# Sourced by scripts/start and scripts/test: makes sure PostgreSQL and Redis answer and exports
# DATABASE_URL / REDIS_URL. Order: the URLs already set; the local servers on their standard
# ports; private servers started from the installed binaries under .data/; otherwise it says
# exactly what to install.
# shellcheck shell=bash

MVM_DATA="${MVM_DATA:-$PWD/.data}"

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  command -v pg_ctl >/dev/null && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- ; }

start_private_postgres() {
  local bin dir="$MVM_DATA/postgres" port=54329 as=()
  bin=$(pg_bin) || { echo "PostgreSQL is not running and not installed: install it (apt-get install postgresql) or set DATABASE_URL" >&2; return 1; }
  # initdb and postgres refuse to run as root
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
    as=(runuser -u postgres --)
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir" && { [ ${#as[@]} -eq 0 ] || chown postgres "$dir"; }
    "${as[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust >/dev/null || return 1
  fi
  if ! port_open 127.0.0.1 $port; then
    "${as[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -w start >/dev/null || return 1
  fi
  echo "postgresql://postgres@127.0.0.1:$port"
}

start_private_redis() {
  local dir="$MVM_DATA/redis" port=63799
  command -v redis-server >/dev/null || { echo "Redis is not running and not installed: install it (apt-get install redis-server) or set REDIS_URL" >&2; return 1; }
  mkdir -p "$dir"
  port_open 127.0.0.1 $port || redis-server --daemonize yes --bind 127.0.0.1 --port $port --save "" --appendonly no --dir "$dir" --logfile "$dir/redis.log" || return 1
  for _ in $(seq 50); do port_open 127.0.0.1 $port && break; sleep 0.1; done
  echo "redis://127.0.0.1:$port"
}

# ensure_services DBNAME REDIS_DB: exports DATABASE_URL (server root URL + DBNAME) and REDIS_URL.
ensure_services() {
  local dbname="$1" redis_db="${2:-0}" pg_root redis_root
  if [ -z "${DATABASE_URL:-}" ]; then
    if port_open 127.0.0.1 5432; then pg_root="postgresql://postgres@127.0.0.1:5432"
    else pg_root=$(start_private_postgres) || return 1
    fi
    export MVM_PG_ROOT="$pg_root"
    export DATABASE_URL="$pg_root/$dbname"
  fi
  if [ -z "${REDIS_URL:-}" ]; then
    if port_open 127.0.0.1 6379; then redis_root="redis://127.0.0.1:6379"
    else redis_root=$(start_private_redis) || return 1
    fi
    export REDIS_URL="$redis_root/$redis_db"
  fi
}

ensure_node_modules() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "installing dependencies (npm ci)..."
    npm ci --no-audit --no-fund --loglevel=error >/dev/null || return 1
  fi
  [ -f core/generated/prisma/client.ts ] && [ core/generated/prisma/client.ts -nt migrations/schema.prisma ] || bash scripts/prisma-generate >/dev/null
}
