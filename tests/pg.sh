#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for a test run.
#
#   tests/pg.sh COMMAND [ARGS…]   starts a cluster, runs COMMAND with
#                                 NUBO_TEST_DATABASE=postgres, stops and removes
#                                 the cluster when it ends (even on failure)
#   source tests/pg.sh            only defines pg_cluster_start / pg_cluster_stop
#                                 (tests/lib.sh does this when a script runs alone)
#
# The cluster lives in its own temporary folder and listens on a unix socket
# there only (listen_addresses=''), so its port never meets another server.
# initdb refuses root: as root the cluster runs as the user postgres (or nobody).
# Each test script then makes a database of its own in it (tests/lib.sh).

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

# pg_cluster_start: exports NUBO_TEST_PG_DIR and NUBO_TEST_PG_PORT.
pg_cluster_start() {
	[ -x "$PG_BINDIR/initdb" ] || { echo "# no PostgreSQL at $PG_BINDIR: scripts/install-deps.sh installs it" >&2; return 1; }
	local dir port as=()
	dir=$(mktemp -d /tmp/nubo-pg.XXXXXX) || return 1
	port=$((20000 + RANDOM % 20000))
	if [ "$(id -u)" -eq 0 ]; then
		local user=postgres
		id -u $user >/dev/null 2>&1 || user=nobody
		chown "$user" "$dir"
		as=(runuser -u "$user" --)
	fi
	chmod 755 "$dir"
	"${as[@]}" "$PG_BINDIR/initdb" -D "$dir/data" -A trust -U nubo --no-sync >"$dir/initdb.log" 2>&1 ||
		{ echo "# initdb failed:"; sed 's/^/#   /' "$dir/initdb.log"; rm -rf "$dir"; return 1; } >&2
	export NUBO_TEST_PG_DIR=$dir NUBO_TEST_PG_PORT=$port
	pg_server_start || { rm -rf "$dir"; unset NUBO_TEST_PG_DIR NUBO_TEST_PG_PORT; return 1; }
}

# pg_server_start / pg_server_stop: the server of the running cluster, for
# tests of a database that goes away and comes back.
pg_server_as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$(stat -c %U "$NUBO_TEST_PG_DIR/data")" -- "$@"
	else
		"$@"
	fi
}
pg_server_start() {
	pg_server_as "$PG_BINDIR/pg_ctl" -D "$NUBO_TEST_PG_DIR/data" -l "$NUBO_TEST_PG_DIR/server.log" -w \
		-o "-p $NUBO_TEST_PG_PORT -k $NUBO_TEST_PG_DIR -c listen_addresses='' -c fsync=off -c max_connections=300" \
		start >/dev/null ||
		{ echo "# the PostgreSQL server did not start:"; sed 's/^/#   /' "$NUBO_TEST_PG_DIR/server.log"; return 1; } >&2
}
pg_server_stop() {
	pg_server_as "$PG_BINDIR/pg_ctl" -D "$NUBO_TEST_PG_DIR/data" -m fast -w stop >/dev/null
}

pg_cluster_stop() {
	[ -n "${NUBO_TEST_PG_DIR:-}" ] || return 0
	pg_server_as "$PG_BINDIR/pg_ctl" -D "$NUBO_TEST_PG_DIR/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$NUBO_TEST_PG_DIR"
	unset NUBO_TEST_PG_DIR NUBO_TEST_PG_PORT
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	[ $# -gt 0 ] || { echo "usage: tests/pg.sh COMMAND [ARGS…]" >&2; exit 2; }
	trap pg_cluster_stop EXIT
	pg_cluster_start || { echo "not ok 1 - start a private PostgreSQL cluster"; exit 1; }
	export NUBO_TEST_DATABASE=postgres
	"$@"
fi
