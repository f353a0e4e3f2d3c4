#!/usr/bin/env bash
# Benchmark 8: how soon a firewall change is in force on a running VM (issue
# 5's target: within a second). A VM in `default` only serves port 80; after
# `nubo vm set-firewall VM default,B8WEB` (a firewall allowing tcp 80) the
# host connects every 20 ms until port 80 answers, then `set-firewall VM
# default` and until a connect is refused. Times are from the CLI's call to
# the first connect that shows the new rules. Moved here from
# tests/e2e/network.sh, which keeps only a loose functional bound.
# Run by bench/run.sh, which exports the environment this needs.
set -uo pipefail
. "$BENCH_SRC/lib.sh"

OUT=$BENCH_DIR/data/08-firewall.tsv
mkdir -p "$BENCH_DIR/data"
echo $'run\topen_ms\tclose_ms' >"$OUT"
name=b8-fw fw=b8web
"$NUBO" firewall create "$fw" >/dev/null 2>&1 && "$NUBO" firewall rule add "$fw" --proto tcp --port 80 >/dev/null 2>&1 ||
	die "cannot make firewall $fw"
"$NUBO" vm create "$name" --type nano --ssh-key "$BENCH_KEY.pub" --wait >"$BENCH_DIR/logs/08-create.log" 2>&1 ||
	die "$name did not boot (see $BENCH_DIR/logs/08-create.log)"
ip=$(api_get "/v1/vms/$name" | jq -r .ip)
"$NUBO" vm ssh "$name" -- 'mkdir -p /tmp/www && echo b8 > /tmp/www/index.html && httpd -p 80 -h /tmp/www' ||
	die "cannot start httpd in $name"
open80() { timeout 1 socat -T1 /dev/null "TCP:$ip:80,connect-timeout=0.2" 2>/dev/null; }

# until_ms WANT: polls port 80 every 20 ms until open80 says WANT (0 open, 1 not),
# for up to 10 s; prints the ms since t0, or "timeout".
until_ms() {
	local want=$1 got
	while :; do
		open80; got=$?
		[ $(( got == 0 ? 0 : 1 )) -eq "$want" ] && { echo $(($(now_ms) - t0)); return; }
		[ $(($(now_ms) - t0)) -gt 10000 ] && { echo timeout; return; }
		sleep 0.02
	done
}

for i in $(seq 1 "$BENCH_N"); do
	t0=$(now_ms)
	"$NUBO" vm set-firewall "$name" "default,$fw" >/dev/null || die "set-firewall failed"
	o=$(until_ms 0)
	t0=$(now_ms)
	"$NUBO" vm set-firewall "$name" default >/dev/null || die "set-firewall failed"
	c=$(until_ms 1)
	printf '%s\t%s\t%s\n' "$i" "$o" "$c" >>"$OUT"
done
"$NUBO" vm delete "$name" --wait >/dev/null 2>&1
"$NUBO" firewall delete "$fw" >/dev/null 2>&1

table() {
	printf 'change\tmin ms\tmedian ms\tmax ms\ttimeouts\n'
	for c in 2:open 3:close; do
		col=${c%%:*}
		printf '%s\t%s\t%s\n' "${c#*:}" "$(tail -n +2 "$OUT" | cut -f"$col" | grep -v timeout | sort -n |
			awk '{v[NR] = $1} END {if (NR) printf "%d\t%d\t%d", v[1], v[int((NR + 1) / 2)], v[NR]; else printf "-\t-\t-"}')" \
			"$(tail -n +2 "$OUT" | cut -f"$col" | grep -c timeout)"
	done
}
say "firewall change in force (target: within 1000 ms), $BENCH_N runs"
table | term_table >&2
mkdir -p "$BENCH_DIR/out"
{
	echo "## Benchmark 8: a firewall change in force"
	echo
	echo "\`nubo vm set-firewall\` on a running tiny VM, then a TCP connect from the host every 20 ms"
	echo "until port 80 opens (a firewall allowing it added) or closes (removed); $BENCH_N runs; target 1000 ms."
	echo
	table | md_table
} >"$BENCH_DIR/out/08-firewall.md"
