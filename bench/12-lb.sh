#!/usr/bin/env bash
# Benchmark 12 (run by hand, not by run.sh): nubo's load balancer against
# HAProxy and against no balancer at all (issue 14). A private nubod (a
# state dir of its own) runs three tiny VMs, each serving its name with
# busybox httpd, and a balancer over them (nftables DNAT in the kernel, no
# proxy). wrk (Debian's) loads, BENCH_LB_SECONDS (10) s each, with
# BENCH_LB_CONNS (16) connections:
#   direct    one target's address, no balancer
#   nubo      the balancer's VIP (round robin over the three)
#   nubo-1    a second balancer over the direct path's one target: the
#             DNAT's own cost, apart from the two more targets' capacity
#   haproxy   Debian's HAProxy on 127.0.0.1, mode tcp, balance roundrobin
#             over the same three targets (L4 like nubo's datapath)
# The four take turns within each of BENCH_N (3) runs, in a new random
# order each run (a rotation would keep the same path after the same one),
# so that load drift hits all four alike; the ratios are taken run by
# run. Under TCG the targets are slow, so absolute figures are small; the
# ratios are the result.
# Then, BENCH_LB_FAILS (3) times, one target's httpd is stopped while curl
# asks the VIP every ~50 ms: the time until `GET /v1/lbs/NAME` marks it
# unhealthy and until the last request that still reached it (a refused
# connection), against fall × interval (checks every 1 s, fall 2).
#
#   bench/12-lb.sh [BUILD_DIR]        (root) prints markdown tables
#
# Installs wrk and haproxy with apt-get when missing. Everything it makes
# (nubod, VMs, network, haproxy, probes, /tmp/nubo-lbbench.*) is removed at
# the end, also after a failure or Ctrl-C.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd) || exit 1
N=${BENCH_N:-3}
SEC=${BENCH_LB_SECONDS:-10}
CONNS=${BENCH_LB_CONNS:-16}
FAILS=${BENCH_LB_FAILS:-3}
INTERVAL_MS=1000 FALL=2
die() { echo "12-lb: $*" >&2; exit 1; }
say() { echo "# $*" >&2; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

[ "$(id -u)" = 0 ] || die "the VMs need bridges and taps: run as root"
[ -x "$BUILD/src/cmd/nubod" ] || die "no nubod in $BUILD: build first"
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; } ||
		die "cannot install ${need[*]}"
fi

W=$(mktemp -d /tmp/nubo-lbbench.XXXXXX)
chmod 755 "$W" # dnsmasq re-reads its hosts file as nobody
NUBOD=$BUILD/src/cmd/nubod NUBO=$BUILD/src/cmd/nubo
export NUBO_SOCKET=$W/nubod.sock XDG_CONFIG_HOME=$W/config
PIDS=() PROBE=
cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}" $PROBE; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	# --destroy stops every VM and removes taps, dnsmasq, bridge, nft table and files
	"$NUBOD" --state-dir "$W/state" --socket "$NUBO_SOCKET" --destroy >>"$W/nubod.log" 2>&1
	[ -n "${BENCH_KEEP:-}" ] && say "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
"$NUBOD" --state-dir "$W/state" --socket "$NUBO_SOCKET" >>"$W/nubod.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do curl -sf --unix-socket "$NUBO_SOCKET" http://nubo/v1/types >/dev/null && break; sleep 0.05; done
curl -sf --unix-socket "$NUBO_SOCKET" http://nubo/v1/types >/dev/null || die "nubod did not start (see $W/nubod.log)"
ssh-keygen -q -t ed25519 -N "" -C lbbench -f "$W/id" || die "ssh-keygen failed"
say "building tiny and booting three targets"
"$NUBO" image build tiny --wait >"$W/image.log" 2>&1 || die "nubo image build tiny failed: $(tail -3 "$W/image.log")"
"$NUBO" firewall create b12web >/dev/null && "$NUBO" firewall rule add b12web --proto tcp --port 22 >/dev/null &&
	"$NUBO" firewall rule add b12web --proto tcp --port 80 >/dev/null || die "cannot make firewall b12web"
VMS=(b12-web1 b12-web2 b12-web3)
for vm in "${VMS[@]}"; do
	"$NUBO" vm create "$vm" --type nano --ssh-key "$W/id.pub" --firewall b12web >>"$W/create.log" 2>&1 ||
		die "cannot create $vm: $(tail -3 "$W/create.log")"
done
ssh_ready() { [ "$("$NUBO" vm show "$1" --json | jq -r '.boot_phases | map(.name) | index("ssh-ready")')" != null ]; }
for vm in "${VMS[@]}"; do
	for _ in $(seq 1 900); do ssh_ready "$vm" && break; sleep 0.2; done
	ssh_ready "$vm" || die "$vm did not answer SSH within 180 s"
done
on() { local vm=$1; shift; "$NUBO" vm ssh "$vm" -- "$@" 2>>"$W/ssh.err"; }
# httpd in the foreground of a process of its own, so that its pid is known
httpd_start() {
	on "$1" "mkdir -p /tmp/www && echo $1 > /tmp/www/index.html &&
		(setsid busybox httpd -f -p 80 -h /tmp/www </dev/null >/dev/null 2>&1 & echo \$! > /tmp/httpd.pid)"
}
httpd_stop() { on "$1" 'kill $(cat /tmp/httpd.pid)'; }
declare -A IP
for vm in "${VMS[@]}"; do
	IP[$vm]=$("$NUBO" vm show "$vm" --json | jq -r .ip)
	httpd_start "$vm" || httpd_start "$vm" || die "cannot start httpd in $vm"
	for _ in $(seq 1 50); do [ "$(curl -s --max-time 2 "http://${IP[$vm]}/")" = "$vm" ] && break; sleep 0.2; done
	[ "$(curl -s --max-time 2 "http://${IP[$vm]}/")" = "$vm" ] || die "$vm does not serve its name on ${IP[$vm]}:80"
done

"$NUBO" lb create b12 --listen 80 --targets "$(IFS=,; echo "${VMS[*]}")" --check http:/ \
	--interval "${INTERVAL_MS}ms" --timeout 500ms --rise 2 --fall "$FALL" >"$W/lb.log" 2>&1 ||
	die "nubo lb create failed: $(cat "$W/lb.log")"
VIP=$("$NUBO" lb show b12 --json | jq -r .vip)
"$NUBO" lb create b12one --listen 80 --targets b12-web1 --check http:/ --interval "${INTERVAL_MS}ms" \
	--timeout 500ms --rise 2 --fall "$FALL" >>"$W/lb.log" 2>&1 || die "nubo lb create b12one failed: $(cat "$W/lb.log")"
VIP1=$("$NUBO" lb show b12one --json | jq -r .vip)
health() { "$NUBO" lb show b12 --json | jq -r --arg vm "$1" '.targets[] | select(.vm == $vm) | .health'; }
all_healthy() { "$NUBO" lb show "${1:-b12}" --json | jq -e '[.targets[].health] | all(. == "healthy")' >/dev/null; }
for _ in $(seq 1 300); do all_healthy && all_healthy b12one && break; sleep 0.2; done
all_healthy && all_healthy b12one || die "the targets did not all become healthy"

for port in $(shuf -i 20000-60000 -n 100); do ss -Hltn "sport = :$port" | grep -q . || break; done
cat >"$W/haproxy.cfg" <<EOF
global
	maxconn 4096
defaults
	mode tcp
	timeout connect 2s
	timeout client 30s
	timeout server 30s
frontend b12
	bind 127.0.0.1:$port
	default_backend targets
backend targets
	balance roundrobin
$(for vm in "${VMS[@]}"; do printf '\tserver %s %s:80\n' "$vm" "${IP[$vm]}"; done)
EOF
haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 50); do curl -s --max-time 2 "http://127.0.0.1:$port/" | grep -q '^b12-web' && break; sleep 0.1; done
curl -s --max-time 2 "http://127.0.0.1:$port/" | grep -q '^b12-web' || die "haproxy does not answer (see $W/haproxy.log)"

declare -A URL=([direct]="http://${IP[b12-web1]}/" [nubo]="http://$VIP/" [nubo-1]="http://$VIP1/" [haproxy]="http://127.0.0.1:$port/")
WAYS=(direct nubo nubo-1 haproxy)
# wrk_run WAY SECONDS: "req_s p50_ms p99_ms errors" from wrk --latency
wrk_run() {
	wrk -t2 -c"$CONNS" -d"$2"s --timeout 5s --latency "${URL[$1]}" 2>&1 | tee -a "$W/wrk.log" | awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		/^Requests\/sec:/ { rps = $2 }
		/Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
		/Non-2xx/ { err += $NF }
		END { printf "%s %.2f %.2f %d\n", rps == "" ? "nan" : rps, p50, p99, err }'
}

say "warming up each path (2 s, not counted)"
for w in "${WAYS[@]}"; do wrk_run "$w" 2 >/dev/null; done
echo $'run\tway\treq_s\tp50_ms\tp99_ms\terrors' >"$W/load.tsv"
for i in $(seq 1 "$N"); do
	for w in $(printf '%s\n' "${WAYS[@]}" | shuf); do
		read -r rps p50 p99 err < <(wrk_run "$w" "$SEC")
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$w" "$rps" "$p50" "$p99" "$err" >>"$W/load.tsv"
		say "run $i $w: $rps req/s, p50 $p50 ms, p99 $p99 ms, $err errors"
	done
done

# --- a target fails: until it is out ----------------------------------------------------
echo $'run\tvm\tunhealthy_ms\tlast_reached_ms\tfailed_requests' >"$W/fail.tsv"
for i in $(seq 1 "$FAILS"); do
	vm=${VMS[$((i % 3))]}
	(while :; do echo "$(now_ms) $(curl -s --max-time 1 "http://$VIP/" || echo failed)"; sleep 0.05; done) >"$W/probe-$i.log" 2>/dev/null &
	PROBE=$!
	sleep 1
	httpd_stop "$vm" || die "cannot stop httpd in $vm"
	t0=$(now_ms) # the server is gone by the time the command returns
	out=timeout
	while [ $(($(now_ms) - t0)) -lt 30000 ]; do
		[ "$(health "$vm")" = unhealthy ] && { out=$(($(now_ms) - t0)); break; }
		sleep 0.05
	done
	sleep 3
	kill "$PROBE" 2>/dev/null; wait "$PROBE" 2>/dev/null
	PROBE=
	# A request that reached the stopped target was refused; the last one's time
	# (from t0) is when the datapath stopped sending it new connections.
	read -r last nfail < <(awk -v t0="$t0" '$2 == "failed" { n++; last = $1 - t0 } END { printf "%s %d\n", n ? last : "-", n }' "$W/probe-$i.log")
	printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$vm" "$out" "$last" "$nfail" >>"$W/fail.tsv"
	say "failure $i ($vm): unhealthy after $out ms, last request reaching it at $last ms, $nfail failed requests"
	httpd_start "$vm" || httpd_start "$vm" || die "cannot restart httpd in $vm"
	for _ in $(seq 1 300); do all_healthy && break; sleep 0.1; done
	all_healthy || die "$vm did not come back"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ---------------------------------------------------------------------------------
# stat: numbers on stdin → "median (min–max)"
stat() {
	sort -g | awk -v f="${1:-%.2f}" '{ v[NR] = $1 } END {
		if (!NR) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf f " (" f "–" f ")\n", m, v[1], v[NR] }'
}
field() { awk -F'\t' -v w="$1" -v c="$2" '$2 == w { print $c }' "$W/load.tsv"; }
# ratio A B COL: per run A's COL ÷ B's COL
ratio() {
	awk -F'\t' -v a="$1" -v b="$2" -v c="$3" 'NR > 1 && $2 == a { x[$1] = $c } NR > 1 && $2 == b { y[$1] = $c }
		END { for (r in x) if (y[r] > 0) printf "%.3f\n", x[r] / y[r] }' "$W/load.tsv"
}
worst() { sort -g | sed -n "${1}p"; } # worst 1: the smallest; worst '$': the largest
verdict() { [ "$1" = 1 ] && echo '**met**' || echo '**missed**'; }

echo "### nubo's balancer, HAProxy and no balancer (issue 14)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, accel $(curl -s --unix-socket "$NUBO_SOCKET" http://nubo/v1/host | jq -r .accel);"
echo "load average $LOAD_BEFORE before, $LOAD_AFTER after. wrk -t2 -c$CONNS, $SEC s per path, $N runs,"
echo "the paths taking turns in each run (a new random order each run); three nano tiny VMs"
echo "with busybox httpd; nubo-1 is a balancer over the direct target alone; HAProxy $(haproxy -v | sed -n 's/^HAProxy version \([^ ]*\).*/\1/p') mode tcp, roundrobin. Median (min–max)."
echo
echo "| path | requests/s | p50 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---:|"
for w in "${WAYS[@]}"; do
	echo "| $w | $(field "$w" 3 | stat %.0f) | $(field "$w" 4 | stat) | $(field "$w" 5 | stat) | $(field "$w" 6 | paste -sd+ | bc) |"
done
echo
r1=$(ratio nubo direct 3) r2=$(ratio nubo haproxy 3) r3=$(ratio nubo haproxy 5) r4=$(ratio nubo-1 direct 3)
echo "| target (run by run) | measured | verdict in every run | verdict on the median |"
echo "|---|---:|---:|---:|"
m1=$(stat %.3f <<<"$r1") m2=$(stat %.3f <<<"$r2") m3=$(stat %.3f <<<"$r3") m4=$(stat %.3f <<<"$r4")
echo "| nubo ≥ 0.9 × direct requests/s | $m1 | $(verdict "$(worst 1 <<<"$r1" | awk '{ print ($1 >= 0.9) }')") | $(verdict "$(awk '{ print ($1 >= 0.9) }' <<<"$m1")") |"
echo "| nubo-1 ≥ 0.9 × direct requests/s (one target both ways) | $m4 | $(verdict "$(worst 1 <<<"$r4" | awk '{ print ($1 >= 0.9) }')") | $(verdict "$(awk '{ print ($1 >= 0.9) }' <<<"$m4")") |"
echo "| nubo ≥ HAProxy requests/s | $m2 | $(verdict "$(worst 1 <<<"$r2" | awk '{ print ($1 >= 1) }')") | $(verdict "$(awk '{ print ($1 >= 1) }' <<<"$m2")") |"
echo "| nubo p99 ≤ HAProxy p99 (ratio) | $m3 | $(verdict "$(worst '$' <<<"$r3" | awk '{ print ($1 <= 1) }')") | $(verdict "$(awk '{ print ($1 <= 1) }' <<<"$m3")") |"
echo
echo "A target's httpd stopped, $FAILS times; checks every $INTERVAL_MS ms, fall $FALL (fall × interval = $((INTERVAL_MS * FALL)) ms); curl through the VIP every ~50 ms:"
echo
echo "| | median (min–max) ms |"
echo "|---|---:|"
echo "| stop → \`lb show\` says unhealthy | $(tail -n +2 "$W/fail.tsv" | cut -f3 | grep -v timeout | stat %.0f) |"
echo "| stop → last request that still reached it | $(tail -n +2 "$W/fail.tsv" | cut -f4 | grep -vx -- - | stat %.0f) |"
echo "| requests refused meanwhile (of ~1 in 3 sent) | $(tail -n +2 "$W/fail.tsv" | cut -f5 | stat %.0f) |"
echo
echo "Raw: run/way/req_s/p50/p99/errors"
echo
echo '```'
cat "$W/load.tsv" "$W/fail.tsv"
echo '```'
