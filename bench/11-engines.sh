#!/usr/bin/env bash
# Benchmark 10 (run by hand, not by run.sh): the API on both store engines
# (issue 11), side by side: SQLite (state-dir/nubo.db, the default) and
# PostgreSQL 15 (a private cluster that tests/pg.sh starts and removes, on a
# unix socket). Per engine a dry-run nubod over 10,000 VM rows (seed_store,
# as bench/05-api.sh seeds them, then stopped and given to this host), and
# per run:
#   list     GET /v1/vms (a page of 100 and its token), closed loop, 4
#            keep-alive connections, BENCH_API_SECONDS (5) s: requests/s, p99
#   creates  POST /v1/vms of BENCH_CREATES (100) new nano VMs, 4 connections
#            at once: creates admitted (202) per second and their p99; each
#            is a whole admission transaction (capacity, name, address, MAC)
#            and the VMs are deleted again before the next run
# BENCH_N (5) runs, the engines taking turns; medians with (min–max), and
# PostgreSQL ÷ SQLite run by run. nubod.json gives cpu_overcommit 64 and
# memory_overcommit 8 so that the creates fit on this host's capacity.
#
#   bench/11-engines.sh [BUILD_DIR]     prints a markdown table (RESULTS.md, 5c)
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
N=${BENCH_N:-5}
SEC=${BENCH_API_SECONDS:-5}
CREATES=${BENCH_CREATES:-100}
ROWS=${BENCH_API_ROWS:-10000}
W=$(mktemp -d /tmp/nubo-engines.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pg_cluster_stop
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 143' TERM INT   # so that a stopped run cleans up too
die() { echo "11-engines: $*" >&2; exit 1; }
. "$SRC/tests/pg.sh"

[ -x "$BUILD/src/cmd/nubod" ] || die "no nubod in $BUILD (ninja -C $BUILD first)"
cc -O2 -Wall -D_GNU_SOURCE -o "$W/benchtool" "$SRC/bench/benchtool.c" \
	$(pkg-config --cflags --libs jansson gnutls) -lpthread -lm || die "cannot build benchtool"
cc -O2 -Wall -D_GNU_SOURCE -I"$SRC" -I"$SRC/src" -I"$BUILD" -o "$W/seed_store" "$SRC/bench/seed_store.c" \
	"$BUILD/src/store/libnubo_store.a" "$BUILD/src/model/libnubo_model.a" "$BUILD/src/util/libnubo_util.a" \
	$(pkg-config --cflags --libs sqlite3 jansson gnutls libpq) -lpthread -lm || die "cannot build seed_store"
echo '{"cpu_overcommit": 64, "memory_overcommit": 8}' >"$W/nubod.json"
pg_cluster_start >"$W/pg.log" 2>&1 || { cat "$W/pg.log"; die "no private PostgreSQL cluster"; }
PSQL=(psql -X -q -A -t -h "$NUBO_TEST_PG_DIR" -p "$NUBO_TEST_PG_PORT" -U nubo)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench" >/dev/null || die "cannot make the database"
PG_URI="postgres://nubo@/bench?host=$NUBO_TEST_PG_DIR&port=$NUBO_TEST_PG_PORT"

# up ENGINE: a dry-run nubod on that engine's store in $W/ENGINE; sets PID.
up() {
	local e=$1 db=()
	mkdir -p "$W/$e"
	[ "$e" = postgres ] && db=(--database "$PG_URI")
	setsid "$BUILD/src/cmd/nubod" --state-dir "$W/$e" --socket "$W/$e.sock" --config "$W/nubod.json" --dry-run \
		"${db[@]}" >>"$W/$e.log" 2>&1 </dev/null &
	PID=$!
	PIDS+=("$PID")
	local t0=$(date +%s%N)
	for _ in $(seq 1 2400); do
		if curl -sf --unix-socket "$W/$e.sock" http://nubo/v1/types >/dev/null; then
			echo "$e $(( ($(date +%s%N) - t0) / 1000000 ))" >>"$W/startup.txt"
			return 0
		fi
		sleep 0.05
	done
	tail "$W/$e.log" >&2
	die "nubod on $e did not start"
}
down() { kill "$PID"; wait "$PID" 2>/dev/null; }
api() { curl -s --unix-socket "$W/$1.sock" -X "$2" ${4:+-d "$4"} "http://nubo$3"; }

# The stores: nubod makes each (default network and firewall, the tiny
# image row it builds in dry-run), then seed_store adds the VM rows.
for e in sqlite postgres; do
	up $e
	api $e POST /v1/images '{"name":"tiny","recipe":"tiny"}' >/dev/null
	for _ in $(seq 1 100); do
		[ "$(api $e GET /v1/images/tiny | jq -r .state)" = ready ] && break
		sleep 0.1
	done
	down
	target=$W/sqlite/nubo.db
	[ $e = postgres ] && target=$PG_URI
	"$W/seed_store" "$target" vms "$ROWS" >>"$W/seed.log" 2>&1 || die "seed_store on $e: $(tail -1 "$W/seed.log")"
	# The same on both engines: the rows are this host's VMs, stopped, so
	# that the reconciler reads them all and the creates still find room.
	sql="UPDATE vms SET power = 'stopped', state = 'stopped', pid = 0, host = (SELECT name FROM hosts LIMIT 1)"
	if [ $e = postgres ]; then "${PSQL[@]}" -d bench -c "$sql"; else sqlite3 "$W/sqlite/nubo.db" "$sql"; fi ||
		die "cannot mark the rows stopped on $e"
done

# field LINE KEY: a value of benchtool's key=value line
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
printf 'engine\trun\tlist_rps\tlist_p99\tcreate_rps\tcreate_p99\tcreate_errors\n' >"$W/data.tsv"
for run in $(seq 1 "$N"); do
	for e in sqlite postgres; do
		up $e
		sleep 2   # start-up done, the reconciler through the rows once
		l=$("$W/benchtool" load --unix "$W/$e.sock" --path /v1/vms --conns 4 --duration "$SEC" --warmup 0.5)
		c=$("$W/benchtool" load --unix "$W/$e.sock" --path /v1/vms --post "{\"name\":\"c$run-%d\",\"type\":\"nano\"}" \
			--count "$CREATES" --conns 4 --duration 60 --warmup 0)
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $e "$run" "$(field "$l" rps)" "$(field "$l" p99_ms)" \
			"$(field "$c" rps)" "$(field "$c" p99_ms)" "$(field "$c" errors)" >>"$W/data.tsv"
		# the run's VMs go again, so that every run admits into the same room
		for i in $(seq 1 "$CREATES"); do api $e DELETE "/v1/vms/c$run-$i" >/dev/null; done
		for i in $(seq 1 "$CREATES"); do
			for _ in $(seq 1 600); do
				[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$W/$e.sock" "http://nubo/v1/vms/c$run-$i")" = 404 ] && break
				sleep 0.1
			done
		done
		down
	done
done

# --- report --------------------------------------------------------------------------
col() { awk -F'\t' -v e="$1" -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) x = i; next } $1 == e { print $x }' "$W/data.tsv"; }
summ() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "–"; exit }
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.*f (%.*f–%.*f)\n", d, m, d, v[1], d, v[NR] }' d="${1:-1}"; }
ratio() { paste <(col postgres "$1") <(col sqlite "$1") | awk '$1 > 0 && $2 > 0 { printf "%.4f\n", $1 / $2 }' | summ 2; }
echo "# $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%Y-%m-%d %H:%M') UTC,"
echo "# nubo $(git -C "$SRC" rev-parse --short HEAD), $ROWS VM rows, N=$N, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| engine | GET /v1/vms requests/s | GET /v1/vms p99 | creates admitted/s | create p99 |"
echo "|---|---:|---:|---:|---:|"
for e in sqlite postgres; do
	printf '| %s | %s | %s ms | %s | %s ms |\n' "$([ $e = sqlite ] && echo SQLite || echo PostgreSQL 15)" \
		"$(col $e list_rps | summ 1)" "$(col $e list_p99 | summ 2)" "$(col $e create_rps | summ 1)" "$(col $e create_p99 | summ 2)"
done
printf '| PostgreSQL ÷ SQLite (per run) | %s× | %s× | %s× | %s× |\n' "$(ratio list_rps)" "$(ratio list_p99)" \
	"$(ratio create_rps)" "$(ratio create_p99)"
echo
echo "# nubod's start-up until it answers (ms, over $N runs): $(for e in sqlite postgres; do
	printf '%s %s; ' $e "$(awk -v e=$e '$1 == e { print $2 }' "$W/startup.txt" | tail -n "$N" | summ 0)"; done)"
errs=$(awk -F'\t' 'NR > 1 { s += $7 } END { print s + 0 }' "$W/data.tsv")
[ "$errs" = 0 ] || echo "# $errs create(s) not admitted (see $W/data.tsv)"
