#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests, from Debian's `postgresql` package.
#
#   cluster.sh start DIR PORT [CERT KEY]   make a cluster in DIR (initdb, first time only) and
#                                          start it on 127.0.0.1:PORT; with CERT and KEY it also
#                                          takes TLS; prints the server's URL
#   cluster.sh stop DIR                    stop it (fast: open sessions are ended)
#   cluster.sh resume DIR                  start it again after a stop
#
# The server runs as an unprivileged user (PostgreSQL refuses root): this user, or `nobody`
# when this is root. The user `ranah` logs in with a password (SCRAM), as in production.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL's server is not installed (Debian package postgresql)" >&2; exit 1; }

as_user=()
owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  as_user=(runuser -u nobody --)
  owner=nobody
fi
password=ranah-test

run_pg_ctl() {
  local dir=$1
  shift
  "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 "$@" >/dev/null ||
    { tail -n 20 "$dir/server.log" >&2; exit 1; }
}

case "${1:-}" in
  start)
    dir=$2 port=$3 cert=${4:-} key=${5:-}
    mkdir -p "$dir"
    chown "$owner" "$dir"
    chmod 700 "$dir"
    if [ ! -d "$dir/data" ]; then
      printf '%s\n' "$password" >"$dir/.pw"
      chown "$owner" "$dir/.pw"
      "${as_user[@]}" "$bin/initdb" -D "$dir/data" -U ranah --pwfile="$dir/.pw" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
      {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir'"
        echo "max_connections = 400"
        echo "fsync = on"
        # Each session's line says whether it is encrypted (the TLS tests read it).
        echo "log_connections = on"
      } >>"$dir/data/postgresql.conf"
      if [ -n "$cert" ]; then
        install -o "$owner" -m 600 "$cert" "$dir/data/server.crt"
        install -o "$owner" -m 600 "$key" "$dir/data/server.key"
        echo "ssl = on" >>"$dir/data/postgresql.conf"
      fi
    fi
    run_pg_ctl "$dir" start
    echo "postgres://ranah:$password@127.0.0.1:$port"
    ;;
  stop)
    dir=$2
    [ ! -d "$dir/data" ] || "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  resume)
    run_pg_ctl "$2" start
    ;;
  *)
    echo "usage: $0 start DIR PORT [CERT KEY] | stop DIR | resume DIR" >&2
    exit 2
    ;;
esac
