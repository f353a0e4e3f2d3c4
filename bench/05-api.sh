#!/usr/bin/env bash
# Benchmark 5: the API under load. GET /v1/vms on a nubod with --dry-run
# (nothing boots) over stores holding 0, 100 and 10,000 VM rows, inserted
# through the store library (seed_store), as running VMs with an address and
# boot phases each. The list is paged: GET /v1/vms answers the first 100 VMs
# by name and a next_page_token; ?limit=1000 (the most a page holds) is
# measured too, as is walking all 10,000 VMs page by page.
#
# Load, closed loop, 4 keep-alive connections, BENCH_API_SECONDS per run:
#   benchtool  straight over nubod's unix socket (no proxy in the way)
#   benchtool  over nubod's own HTTPS listener (--listen, TLS, an API token),
#              as remote clients and the web console reach it: one TLS
#              handshake per connection, then keep-alive requests
#   wrk        through socat (TCP on 127.0.0.1 → the unix socket), as asked;
#              socat's own cost is measured against a static server
# The peer is the floor for serving the same bytes: benchtool serve answers
# every request with the 10,000-VM response captured from nubod.
# The engines (10,000 rows): the same list from a nubod on a private
# PostgreSQL cluster (tests/pg.sh), seeded the same way, and from the SQLite
# nubod beside it, taking turns run by run; PostgreSQL ÷ SQLite per run.
# Skipped when PostgreSQL is not installed or BENCH_API_PG=0.
# CPU per request: the CPU time nubod's threads (and, on PostgreSQL, the
# cluster's processes) used during a run, over the requests answered; it
# includes what nubod does meanwhile on its own (the reconciler, the
# metrics sampler: "nubod CPU while idle" below), and is far less swayed by
# other programs on the machine than the wall-clock figures.
# Memory: nubod's RSS idle after start-up and after the load, per row count.
set -uo pipefail
. "$BENCH_SRC/lib.sh"

WORK=$BENCH_DIR/b05
OUT=$BENCH_DIR/data/05-api.tsv
MEMOUT=$BENCH_DIR/data/05-api-memory.tsv
mkdir -p "$WORK"
# Seconds per load run: short where requests take well under a millisecond,
# longer for the 10,000-row list (a few hundred ms per request).
SEC=${BENCH_API_SECONDS:-1}
SEC_LONG=${BENCH_API_SECONDS_LONG:-5}
CONNS=4
ROWS=${BENCH_API_ROWS:-0 100 10000}
# BENCH_REPORT_ONLY=1: only the report, from the data of an earlier run (BENCH_KEEP).
if [ -z "${BENCH_REPORT_ONLY:-}" ]; then
echo $'target\trows\tclient\trun\trequests\trps\tp50_ms\tp99_ms\tmax_ms\tbytes\tcpu_us' >"$OUT"
echo $'rows\trss_idle_kib\trss_after_kib\thwm_kib\tidle_cpu_pct' >"$MEMOUT"

# nubod's HTTPS listener: a self-signed certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/tls.key" -out "$WORK/tls.pem" >/dev/null 2>&1 ||
	die "openssl cannot make the HTTPS listener's certificate"
HAVE_WRK=
command -v wrk >/dev/null && HAVE_WRK=1 || say "wrk is missing: its rows are left out"

free_port() {
	local p
	for p in $(seq $((20000 + RANDOM % 20000)) 65000); do
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

# socat_up SOCK: a TCP forward on 127.0.0.1 to a unix socket; prints the port.
socat_up() {
	local port
	port=$(free_port)
	setsid socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$1" >/dev/null 2>&1 </dev/null &
	register_pid $!
	echo "$port $!"
	for _ in $(seq 1 50); do ss -Hltn "sport = :$port" | grep -q . && return; sleep 0.05; done
}

# cpu_ns PID...: CPU time (ns) of every thread of these processes so far.
cpu_ns() {
	local p t s=0 a
	for p in "$@"; do
		for t in /proc/"$p"/task/*/schedstat; do
			read -r a _ <"$t" 2>/dev/null && s=$((s + a))
		done
	done
	echo "$s"
}

# bt TARGET ROWS LABEL RUN ARGS...: one benchtool load run → a row of $OUT.
# CPU_PIDS: the processes whose CPU time per request is recorded (none: "-").
bt() {
	local target=$1 rows=$2 label=$3 run=$4 line c0 c1 w0 w1
	shift 4
	local dur=${DUR:-$SEC} warm
	warm=$(awk -v d="$dur" 'BEGIN { print (d >= 3) ? 0.5 : 0.3 }')
	# The warm-up's requests are not counted: the CPU is read over the
	# measured part only (from the end of the warm-up to the end).
	(sleep "$warm"; cpu_ns ${CPU_PIDS:-} >"$WORK/cpu0") &
	w0=$!
	line=$("$BENCHTOOL" load "$@" --conns "${CONNS_NOW:-$CONNS}" --duration "$dur" --warmup "$warm" 2>/dev/null)
	c1=$(cpu_ns ${CPU_PIDS:-})
	wait "$w0"
	c0=$(cat "$WORK/cpu0")
	awk -v t="$target" -v r="$rows" -v l="$label" -v n="$run" -v c0="$c0" -v c1="$c1" -v pids="${CPU_PIDS:-}" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		cpu = (pids != "" && v["requests"] > 0) ? sprintf("%.1f", (c1 - c0) / v["requests"] / 1000) : "-"
		printf "%s\t%s\t%s\t%s\t%s\t%.1f\t%.3f\t%.3f\t%.3f\t%s\t%s\n", t, r, l, n, v["requests"], v["rps"], v["p50_ms"], v["p99_ms"], v["max_ms"], v["bytes_per_response"], cpu }' \
		<<<"$line" >>"$OUT"
}

# wrk_run TARGET ROWS RUN PORT PATH
wrk_run() {
	local out
	out=$(wrk -t2 -c"$CONNS" -d"${DUR:-$SEC}s" --timeout 30s --latency "http://127.0.0.1:$4$5" 2>&1)
	echo "$out" >>"$WORK/wrk.log"
	awk -v t="$1" -v r="$2" -v n="$3" '
		function ms(x) { if (x ~ /us$/) return x / 1000; if (x ~ /ms$/) return x + 0; if (x ~ /s$/) return x * 1000; return x }
		/^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^ +Latency/ { mx = ms($4) }
		/requests in/ { req = $1 } /^Requests\/sec/ { rps = $2 }
		END { printf "%s\t%s\twrk+socat\t%s\t%s\t%.1f\t%.3f\t%.3f\t%.3f\t-\n", t, r, n, req, rps, p50, p99, mx }' <<<"$out" >>"$OUT"
}

# engines SQLITE_SOCK SQLITE_PID DUR: the 10,000-row list on PostgreSQL beside
# the SQLite nubod that is up, taking turns (see the top). Start-up times of
# the PostgreSQL nubod go to $BENCH_DIR/data/05-api-pg-startup.tsv.
engines() {
	local ssock=$1 spid=$2 dur=$3 pd=$WORK/pg uri pgpid ppid i t0
	[ "${BENCH_API_PG:-1}" != 0 ] || return 0
	. "$BENCH_SRC/../tests/pg.sh"
	[ -x "$PG_BINDIR/initdb" ] || { say "PostgreSQL is not installed: no engine rows"; return 0; }
	pg_cluster_start >"$WORK/pg.log" 2>&1 || { say "no private PostgreSQL cluster: $(tail -3 "$WORK/pg.log")"; return 0; }
	register pgcluster "$NUBO_TEST_PG_DIR"
	psql -X -q -h "$NUBO_TEST_PG_DIR" -p "$NUBO_TEST_PG_PORT" -U nubo -d postgres -c "CREATE DATABASE bench" >/dev/null ||
		die "cannot make the PostgreSQL database"
	uri="postgres://nubo@/bench?host=$NUBO_TEST_PG_DIR&port=$NUBO_TEST_PG_PORT"
	mkdir -p "$pd"
	pgpid=$(nubod_up "$pd" "$pd/nubod.sock" "$pd/nubod.log" --dry-run --database "$uri") || die "nubod on PostgreSQL did not start"
	nubod_down "$pgpid"
	"$SEED_STORE" "$uri" vms 10000 >>"$WORK/seed.log" 2>&1 || die "seed_store failed on PostgreSQL"
	printf 'start\tms\n' >"$BENCH_DIR/data/05-api-pg-startup.tsv"
	for i in "the first after the seeding" "a restart"; do
		t0=$(now_ms)
		pgpid=$(NUBOD_UP_SECONDS=300 nubod_up "$pd" "$pd/nubod.sock" "$pd/nubod.log" --dry-run --database "$uri") ||
			die "nubod on PostgreSQL did not start"
		printf '%s\t%s\n' "$i" "$(($(now_ms) - t0))" >>"$BENCH_DIR/data/05-api-pg-startup.tsv"
		[ "$i" = "a restart" ] || nubod_down "$pgpid"
	done
	sleep 2
	ppid=$(head -n 1 "$NUBO_TEST_PG_DIR/data/postmaster.pid")
	for i in $(seq 1 "$BENCH_N"); do
		# the cluster's processes now: its backends come and go with nubod's pool
		DUR=$dur CPU_PIDS="$pgpid $ppid $(pgrep -P "$ppid" | tr '\n' ' ')" \
			bt postgres 10000 direct "$i" --unix "$pd/nubod.sock" --path /v1/vms
		DUR=$dur CPU_PIDS=$spid bt sqlite 10000 direct "$i" --unix "$ssock" --path /v1/vms
	done
	nubod_down "$pgpid"
	pg_cluster_stop
}

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { local s; s=$(cat "/proc/$1/stat"); s=${s##*) }; set -- $s; echo $((${12} + ${13})); }

PROFILE=
for rows in $ROWS; do
	d=$WORK/rows-$rows
	mkdir -p "$d"
	# A first start makes the store with its default network and firewall,
	# which the seeded VMs join.
	pid=$(nubod_up "$d" "$d/nubod.sock" "$d/nubod.log" --dry-run) || die "dry-run nubod did not start"
	nubod_down "$pid"
	"$SEED_STORE" "$d/nubo.db" vms "$rows" >>"$WORK/seed.log" 2>&1 || die "seed_store failed for $rows rows"
	tls_port=$(free_port)
	pid=$(nubod_up "$d" "$d/nubod.sock" "$d/nubod.log" --dry-run --listen "127.0.0.1:$tls_port" \
		--tls-cert "$WORK/tls.pem" --tls-key "$WORK/tls.key") || die "dry-run nubod did not start"
	token=$(NUBO_SOCKET=$d/nubod.sock "$BENCH_BIN/nubo" token create bench --json | jq -r .secret)
	sleep 2 # start-up done, the reconciler has been through the rows a few times
	rss_idle=$(status_kib "$pid" VmRSS)
	c0=$(cpu_ticks "$pid")
	sleep 3
	c1=$(cpu_ticks "$pid")
	idle_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b - a) / hz / 3 * 100 }')
	read -r port socat_pid < <(socat_up "$d/nubod.sock")
	dur=$SEC
	[ "$rows" -ge 10000 ] && dur=$SEC_LONG
	for i in $(seq 1 "$BENCH_N"); do
		DUR=$dur CPU_PIDS=$pid bt nubod "$rows" direct "$i" --unix "$d/nubod.sock" --path /v1/vms
		DUR=$dur CPU_PIDS=$pid bt nubod "$rows" "HTTPS, keep-alive" "$i" --tcp "127.0.0.1:$tls_port" --tls --token "$token" --path /v1/vms
		[ -z "$HAVE_WRK" ] || DUR=$dur wrk_run nubod "$rows" "$i" "$port" /v1/vms
	done
	if [ "$rows" = 10000 ]; then
		DUR=$dur CONNS_NOW=1 bt nubod "$rows" "direct, 1 conn" 1 --unix "$d/nubod.sock" --path /v1/vms
		DUR=$dur bt nubod "$rows" "direct, page of 1000" 1 --unix "$d/nubod.sock" --path '/v1/vms?limit=1000'
		bt nubod "$rows" "direct, GET one VM" 1 --unix "$d/nubod.sock" --path /v1/vms/bench-005000
		# The whole list, page by page (as nubo vm list reads it), five times.
		t0=$(now_ms)
		for _ in 1 2 3 4 5; do
			tok=
			while :; do
				page=$(curl -s --unix-socket "$d/nubod.sock" "http://nubo/v1/vms?limit=1000${tok:+&page_token=$tok}")
				tok=$(jq -r '.next_page_token // empty' <<<"$page")
				[ -n "$tok" ] || break
			done
		done
		echo "$(( ($(now_ms) - t0) / 5 ))" >"$BENCH_DIR/data/05-api-walk-ms.txt"
		curl -s --unix-socket "$d/nubod.sock" http://nubo/v1/vms >"$WORK/payload.json"
		jq -c . "$WORK/payload.json" | wc -c >"$BENCH_DIR/data/05-api-compact-bytes.txt"
		if command -v perf >/dev/null; then
			"$BENCHTOOL" load --unix "$d/nubod.sock" --path /v1/vms --conns "$CONNS" --duration 4 --warmup 0 >/dev/null 2>&1 &
			lp=$!
			sleep 0.5
			perf record -F 499 -g -o "$WORK/perf.data" -p "$pid" -- sleep 3 >/dev/null 2>&1 && PROFILE=1
			wait $lp
		fi
		engines "$d/nubod.sock" "$pid" "$dur"
	fi
	if [ "$rows" = 10000 ] && [ -n "$PROFILE" ]; then
		# Self time by library, then the top symbols (with their library).
		{
			printf 'library\tshare\n'
			perf report -i "$WORK/perf.data" --stdio --no-children --sort dso 2>/dev/null |
				awk '/^ +[0-9.]+%/ && n < 6 { printf "%s\t%s\n", $2, $1; n++ }'
		} >"$BENCH_DIR/data/05-api-profile.tsv"
		perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol 2>/dev/null |
			awk '/^ +[0-9.]+%/ && n < 12 { sym = $4; if (sym ~ /^0x/) sym = "(no symbols)"; printf "%s\t`%s`\t%s\n", $1, sym, $2; n++ }' \
			>"$WORK/profile.tsv"
	fi
	rss_after=$(status_kib "$pid" VmRSS)
	hwm=$(status_kib "$pid" VmHWM)
	printf '%s\t%s\t%s\t%s\t%s\n' "$rows" "$rss_idle" "$rss_after" "$hwm" "$idle_cpu" >>"$MEMOUT"
	kill "$socat_pid" 2>/dev/null
	nubod_down "$pid"
	say "$rows rows: $(awk -F'\t' -v r="$rows" '$2 == r && $3 == "direct" { printf "%.1f req/s p99 %.1f ms; ", $6, $8 }' "$OUT")"
done

# The floor: the same bytes from a server that does nothing else.
if [ -f "$WORK/payload.json" ]; then
	"$BENCHTOOL" serve --unix "$WORK/floor.sock" --file "$WORK/payload.json" >/dev/null 2>&1 &
	register_pid $!
	fp=$!
	for _ in $(seq 1 50); do [ -S "$WORK/floor.sock" ] && break; sleep 0.05; done
	read -r port socat_pid < <(socat_up "$WORK/floor.sock")
	for i in $(seq 1 "$BENCH_N"); do
		bt floor 10000 direct "$i" --unix "$WORK/floor.sock" --path /v1/vms
		[ -z "$HAVE_WRK" ] || wrk_run floor 10000 "$i" "$port" /v1/vms
		bt floor 10000 "socat, benchtool" "$i" --tcp "127.0.0.1:$port" --path /v1/vms
	done
	kill "$socat_pid" "$fp" 2>/dev/null
fi
fi
[ -f "$WORK/perf.data" ] && [ -s "$BENCH_DIR/data/05-api-profile.tsv" ] && PROFILE=1

# --- report ---------------------------------------------------------------------
sel() { awk -F'\t' -v t="$1" -v r="$2" -v c="$3" -v k="$4" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) x = i; next }
	$1 == t && $2 == r && $3 == c { print $x }' "$OUT"; }
# per-run ratio of two series (matched by run)
sel_ratio() { # T1 R1 C1 T2 R2 C2 KEY
	paste <(sel "$1" "$2" "$3" "$7") <(sel "$4" "$5" "$6" "$7") | awk '$1 > 0 && $2 > 0 { printf "%.4f\n", $1 / $2 }'
}
# cpu_us T R C: the CPU per request of a series, "145 (120–160) µs", or "–"
cpu_us() {
	local v
	v=$(sel "$1" "$2" "$3" cpu_us | summ)
	case $v in nan*) echo "–" ;; *) echo "$(fmt_n "$v" %.0f) µs" ;; esac
}
{
	printf 'server\tVM rows\tclient\trequests/s\tp50\tp99\tCPU per request\tresponse\n'
	for rows in $ROWS; do
		for c in direct "HTTPS, keep-alive" wrk+socat "direct, 1 conn" "direct, page of 1000" "direct, GET one VM"; do
			[ -n "$(sel nubod "$rows" "$c" rps)" ] || continue
			printf 'nubod\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rows" "$c" "$(fmt_n "$(sel nubod "$rows" "$c" rps | summ)" %.1f)" \
				"$(fmt_ms "$(sel nubod "$rows" "$c" p50_ms | summ)")" "$(fmt_ms "$(sel nubod "$rows" "$c" p99_ms | summ)")" \
				"$(cpu_us nubod "$rows" "$c")" \
				"$(sel nubod "$rows" "$c" bytes | head -n 1 | awk '$1 ~ /^[0-9]/ { if ($1 < 1024) printf "%d B", $1; else printf "%.0f KiB", $1 / 1024; next } { print "–" }')"
		done
	done
	for c in direct "socat, benchtool" wrk+socat; do
		[ -n "$(sel floor 10000 "$c" rps)" ] || continue
		printf 'floor (same bytes)\t10000\t%s\t%s\t%s\t%s\t–\t%s\n' "$c" "$(fmt_n "$(sel floor 10000 "$c" rps | summ)" %.1f)" \
			"$(fmt_ms "$(sel floor 10000 "$c" p50_ms | summ)")" "$(fmt_ms "$(sel floor 10000 "$c" p99_ms | summ)")" \
			"$(sel floor 10000 "$c" bytes | head -n 1 | awk '$1 ~ /^[0-9]/ { printf "%.0f KiB", $1 / 1024; next } { print "–" }')"
	done
} >"$WORK/table.tsv"
{
	printf 'comparison (10,000 rows, per run)\trequests/s\tp99\n'
	printf 'nubod ÷ floor, direct\t%s\t%s\n' "$(fmt_x "$(sel_ratio nubod 10000 direct floor 10000 direct rps | summ)")" \
		"$(fmt_x "$(sel_ratio nubod 10000 direct floor 10000 direct p99_ms | summ)")"
	printf 'nubod ÷ floor, wrk+socat\t%s\t%s\n' "$(fmt_x "$(sel_ratio nubod 10000 wrk+socat floor 10000 wrk+socat rps | summ)")" \
		"$(fmt_x "$(sel_ratio nubod 10000 wrk+socat floor 10000 wrk+socat p99_ms | summ)")"
	printf 'socat in the path ÷ direct (floor, benchtool)\t%s\t%s\n' "$(fmt_x "$(sel_ratio floor 10000 "socat, benchtool" floor 10000 direct rps | summ)")" \
		"$(fmt_x "$(sel_ratio floor 10000 "socat, benchtool" floor 10000 direct p99_ms | summ)")"
	printf 'nubod, HTTPS ÷ unix socket (10,000 rows)\t%s\t%s\n' "$(fmt_x "$(sel_ratio nubod 10000 "HTTPS, keep-alive" nubod 10000 direct rps | summ)")" \
		"$(fmt_x "$(sel_ratio nubod 10000 "HTTPS, keep-alive" nubod 10000 direct p99_ms | summ)")"
	printf 'nubod, HTTPS ÷ unix socket (0 rows)\t%s\t%s\n' "$(fmt_x "$(sel_ratio nubod 0 "HTTPS, keep-alive" nubod 0 direct rps | summ)")" \
		"$(fmt_x "$(sel_ratio nubod 0 "HTTPS, keep-alive" nubod 0 direct p99_ms | summ)")"
	printf 'nubod, 10,000 rows ÷ 0 rows (direct)\t%s\t%s\n' "$(fmt_x "$(sel_ratio nubod 10000 direct nubod 0 direct rps | summ)")" \
		"$(fmt_x "$(sel_ratio nubod 10000 direct nubod 0 direct p99_ms | summ)")"
	printf 'nubod ÷ target (≥ 5,000 req/s, p99 < 10 ms)\t%s\t%s\n' \
		"$(fmt_x "$(sel nubod 10000 direct rps | awk '{ printf "%.6f\n", $1 / 5000 }' | summ)")" \
		"$(fmt_x "$(sel nubod 10000 direct p99_ms | awk '{ printf "%.4f\n", $1 / 10 }' | summ)")"
	printf 'nubod over HTTPS ÷ target (p99 < 10 ms)\t\t%s\n' \
		"$(fmt_x "$(sel nubod 10000 "HTTPS, keep-alive" p99_ms | awk '{ printf "%.4f\n", $1 / 10 }' | summ)")"
} >"$WORK/ratios.tsv"
ENGINES=
if [ -n "$(sel postgres 10000 direct rps)" ]; then
	ENGINES=1
	{
		printf 'engine (10,000 rows, direct, %s connections)\trequests/s\tp50\tp99\tCPU per request\n' "$CONNS"
		for t in sqlite postgres; do
			printf '%s\t%s\t%s\t%s\t%s\n' "$([ $t = sqlite ] && echo SQLite || echo PostgreSQL)" \
				"$(fmt_n "$(sel $t 10000 direct rps | summ)" %.1f)" "$(fmt_ms "$(sel $t 10000 direct p50_ms | summ)")" \
				"$(fmt_ms "$(sel $t 10000 direct p99_ms | summ)")" "$(cpu_us $t 10000 direct)"
		done
		printf 'PostgreSQL ÷ SQLite, run by run\t%s\t%s\t%s\t%s\n' \
			"$(fmt_x "$(sel_ratio postgres 10000 direct sqlite 10000 direct rps | summ)")" \
			"$(fmt_x "$(sel_ratio postgres 10000 direct sqlite 10000 direct p50_ms | summ)")" \
			"$(fmt_x "$(sel_ratio postgres 10000 direct sqlite 10000 direct p99_ms | summ)")" \
			"$(fmt_x "$(sel_ratio postgres 10000 direct sqlite 10000 direct cpu_us | summ)")"
		for t in sqlite postgres; do
			printf '%s ÷ target (p99 < 10 ms)\t\t\t%s\t\n' "$([ $t = sqlite ] && echo SQLite || echo PostgreSQL)" \
				"$(fmt_x "$(sel $t 10000 direct p99_ms | awk '{ printf "%.4f\n", $1 / 10 }' | summ)")"
		done
	} >"$WORK/engines.tsv"
fi
rss() { awk -F'\t' -v r="$1" -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) x = i; next } $1 == r { print $x }' "$MEMOUT"; }
per_vm() { # COLUMN → KiB per VM between 0 and 10,000 rows
	local a b
	a=$(rss 0 "$1")
	b=$(rss 10000 "$1")
	[ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (b - a) / 10000 }'
}
{
	printf 'nubod memory\t0 rows\t100 rows\t10,000 rows\tper VM row (10,000 − 0) ÷ 10,000\tper VM ÷ target (64 KiB)\n'
	for c in rss_idle_kib rss_after_kib hwm_kib; do
		case $c in rss_idle_kib) l="RSS idle, after start-up" ;; rss_after_kib) l="RSS after the load" ;; *) l="peak RSS (VmHWM)" ;; esac
		pv=$(per_vm "$c")
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$l" "$(rss 0 "$c" | awk '{ printf "%.1f MiB", $1 / 1024 }')" \
			"$(rss 100 "$c" | awk '{ printf "%.1f MiB", $1 / 1024 }')" "$(rss 10000 "$c" | awk '{ printf "%.1f MiB", $1 / 1024 }')" \
			"${pv:-–} KiB" "$(awk -v p="$pv" 'BEGIN { if (p == "") print "–"; else printf "%.2f×", p / 64 }')"
	done
	printf 'nubod CPU while idle (reconciler)\t%s%%\t%s%%\t%s%%\t\t\n' "$(rss 0 idle_cpu_pct)" "$(rss 100 idle_cpu_pct)" "$(rss 10000 idle_cpu_pct)"
} >"$WORK/memory.tsv"
{
	echo "## 5. API: \`GET /v1/vms\` with 10,000 VMs in the store"
	echo
	echo "nubod with \`--dry-run\` over stores of 0, 100 and 10,000 VM rows inserted through the"
	echo "store library (\`bench/seed_store.c\`), each row a running VM with an address and boot"
	echo "phases. \`GET /v1/vms\` answers a page: the first 100 VMs by name and a \`next_page_token\`"
	echo "(\`?limit=\` up to 1,000). Closed-loop load on $CONNS keep-alive connections, N=$BENCH_N runs of ${SEC} s each (${SEC_LONG} s"
	echo "for 10,000 rows; the one-connection and one-VM rows are single runs) after a short"
	echo "warm-up: \`benchtool load\` straight over the unix socket and over nubod's own HTTPS"
	echo "listener (\`--listen\`, TLS 1.3, an API token; one handshake per connection, then"
	echo "keep-alive), and \`wrk\` (-t2 -c$CONNS) through a socat TCP forward. libmicrohttpd sets"
	echo "TCP_NODELAY on its connections itself (strace: one setsockopt per response), so no answer"
	echo "waits on Nagle's algorithm and a client's delayed ACK. The peer is the floor for serving the same"
	echo "bytes: \`benchtool serve\` answering every request with the response captured from nubod."
	echo "Client, proxy and server share the 2 cores."
	echo
	md_table <"$WORK/table.tsv"
	echo
	[ -s "$BENCH_DIR/data/05-api-walk-ms.txt" ] &&
		echo "Reading all 10,000 VMs page by page (10 pages of 1,000, with curl and jq, as \`nubo vm list\` does): $(cat "$BENCH_DIR/data/05-api-walk-ms.txt") ms."
	echo
	md_table <"$WORK/ratios.tsv"
	echo
	md_table <"$WORK/memory.tsv"
	if [ -n "$ENGINES" ]; then
		echo
		echo "The same list on both store engines: a dry-run nubod on a private PostgreSQL cluster"
		echo "over the same 10,000 seeded rows, beside the SQLite nubod above, the two taking"
		echo "turns, N=$BENCH_N runs of ${SEC_LONG} s each. CPU per request on PostgreSQL counts the"
		echo "cluster's processes too."
		echo
		md_table <"$WORK/engines.tsv"
		if [ -s "$BENCH_DIR/data/05-api-pg-startup.tsv" ]; then
			echo
			{ printf 'nubod start-up on PostgreSQL, 10,000 VMs, until it answers\ttime\n'
			  awk -F'\t' 'NR > 1 { printf "%s\t%.1f s\n", $1, $2 / 1000 }' "$BENCH_DIR/data/05-api-pg-startup.tsv"; } | md_table
		fi
	fi
	if [ -n "$PROFILE" ]; then
		echo
		echo "Where nubod's CPU goes while serving the 10,000-row list (perf, 3 s under load, self"
		echo "time), by library and by symbol:"
		echo
		md_table <"$BENCH_DIR/data/05-api-profile.tsv"
		echo
		{ printf 'share\tsymbol\tlibrary\n'; cat "$WORK/profile.tsv"; } | md_table
	fi
} >"$BENCH_DIR/out/05-api.md"
echo
term_table <"$WORK/table.tsv"
echo
term_table <"$WORK/ratios.tsv"
echo
term_table <"$WORK/memory.tsv"
if [ -n "$ENGINES" ]; then
	echo
	term_table <"$WORK/engines.tsv"
fi
