#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests: `cluster.sh start DIR PORT` makes
# one in DIR (initdb, as an unprivileged user: PostgreSQL refuses to run as root) and starts it
# on 127.0.0.1:PORT, with a password (SCRAM) for the user `ranah`, and prints its URL;
# `cluster.sh stop DIR` stops it. Debian's `postgresql` package provides the server.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL's server is not installed (Debian package postgresql)" >&2; exit 1; }

# Who runs the server: this user, or `nobody` when this is root.
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  as_user=(runuser -u nobody --)
fi

case "${1:-}" in
  start)
    dir=$2 port=$3
    mkdir -p "$dir"
    [ "$(id -u)" -ne 0 ] || chown nobody: "$dir"
    chmod 700 "$dir"
    password=ranah-test
    printf '%s\n' "$password" > "$dir/.pw"
    [ "$(id -u)" -ne 0 ] || chown nobody: "$dir/.pw"
    "${as_user[@]}" "$bin/initdb" -D "$dir/data" -U ranah --pwfile="$dir/.pw" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c max_connections=400 -c fsync=on" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://ranah:$password@127.0.0.1:$port"
    ;;
  stop)
    dir=$2
    [ -d "$dir/data" ] && "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
