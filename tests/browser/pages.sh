#!/usr/bin/env bash
# browser: every page of the web console in Debian's chromium (headless,
# playwright-core, tests/browser/pages.mjs) against a dry-run nubod holding
# 1,000 VMs made through the API: networks, firewalls and their rules,
# images, volumes (attached), snapshots, load balancers and their targets,
# groups and their counts, hosts (drain), usage as a chart, a VM's charts
# (its CPU fed through the dry-run hook), each made or changed from its page
# with the operation's phases and the API's errors next to the field; then
# the VM list with 1,000 VMs: the rows in view only in the DOM, the first
# page drawn before the rest is fetched, the last VM reached by scrolling;
# how soon the list shows is printed, not checked.
# Screenshots go to NUBO_TEST_OUT (default build/test-output)/browser/.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../browser-lib.sh"
N=1000

# The host admits 64 vCPUs per CPU of the c1 type; stopped VMs hold none, so
# the VMs are made 100 at a time and stopped, all but the last 100.
cat >"$T_DIR/nubod.json" <<'JSON'
{"cpu_overcommit": 64, "memory_overcommit": 8, "types": [{"name": "c1", "vcpus": 1, "memory_mib": 64}]}
JSON
rm -f "$SHOTS"/1*.png
console_nubod_start --dry-run --config "$T_DIR/nubod.json"
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait (dry-run)" "$out"
out=$("$NUBO" network create many --cidr 10.213.0.0/22 2>&1)
ok $? "a network with room for $N VMs" "$out"
SECRET=$("$NUBO" token create browser --json | jq -r .secret)
# A VM running all along, whose charts pages.mjs reads at the end: its CPU
# through the dry-run hook (STATE/dry-run-cpu/ID: percent of one CPU).
CHART_VM=stats-t
out=$("$NUBO" vm create "$CHART_VM" --type c1 --network many --wait 2>&1)
ok $? "VM $CHART_VM runs" "$out"
mkdir -p "$T_STATE/dry-run-cpu"
chmod 755 "$T_STATE/dry-run-cpu"
echo 40 >"$T_STATE/dry-run-cpu/$(body_of "$(api GET "/v1/vms/$CHART_VM")" | jq -r .id)"

# reqs METHOD PATH-FORMAT FIRST LAST [BODY-FORMAT]: one curl, many requests
# (a fork each would be most of the time).
reqs() {
	local i
	for i in $(seq "$3" "$4"); do
		[ "$i" = "$3" ] || echo next
		printf 'unix-socket = "%s"\nurl = "http://nubo%s"\nrequest = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{method} %%{url}\\n"\n' \
			"$T_SOCK" "$(printf "$2" "$i")" "$1"
		[ -z "${5:-}" ] || printf 'data = "%s"\n' "$(printf "$5" "$i" | sed 's/"/\\"/g')"
	done | curl -s -K - >"$T_DIR/reqs.out"
	! grep -v '^20[012] ' "$T_DIR/reqs.out"
}
# None of the VMs made by fill runs: the host's vCPUs are CHART_VM's one.
none_running() { [ "$(body_of "$(api GET /v1/hosts)" | jq '.hosts[0].vcpus_used')" = 1 ]; }
fill() {
	local b first last
	for b in $(seq 0 $((N / 100 - 1))); do
		first=$((b * 100 + 1)) last=$((b * 100 + 100))
		reqs POST /v1/vms "$first" "$last" '{"name":"vm-%04d","type":"c1","image":"tiny","nics":[{"network":"many"}]}' ||
			return 1
		[ "$last" = "$N" ] && break
		reqs POST /v1/vms/vm-%04d/stop "$first" "$last" || return 1
		wait_for 60 none_running || { echo "the VMs up to $last did not stop"; return 1; }
	done
}
# Made while the other pages are checked; the VM list waits for FILLED.
FILLED=$T_DIR/filled
(fill >"$T_DIR/fill.log" 2>&1 && touch "$FILLED") &
FILL_PID=$!
t_on_exit "kill $FILL_PID 2>/dev/null"

export SECRET N FILLED CHART_VM
run_node 400 pages.mjs
wait "$FILL_PID"
ok $? "the $N VMs were made through the API" "$(cat "$T_DIR/fill.log")"
is "$(t_sql "SELECT count(*) FROM vms WHERE name LIKE 'vm-%'")" "$N" "the store holds $N of them"
