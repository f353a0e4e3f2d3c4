#!/usr/bin/env bash
# API tests of usage and cost: a real nubod and store, the host layer in dry-run.
#
# Time: a test cannot wait for hours, so it moves time in the store instead
# (t_sql), which is where nubod keeps it. The arithmetic is checked on spans
# the test writes itself, in 2025, a year nothing else here touches, and
# read back over windows that end in the past, so every figure is exact.
# The life of real VMs (start, stop, resize, a kill -9 of nubod) is checked
# on the spans nubod writes; where a span must look older than the test
# (an hour of running), the test moves its start back by exactly an hour,
# as if the VM had started then, and nothing else.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

# Round prices, so that figures can be checked by hand.
write_config() {
	cat >"$T_DIR/nubod.json" <<JSON
{"types": [
  {"name": "c1", "vcpus": 1, "memory_mib": 256, "price_per_hour": 1.0},
  {"name": "c2", "vcpus": 2, "memory_mib": 256, "price_per_hour": 2.0}
 ],
 "prices": {"disk_gib_hour": 0.001, "volume_gib_hour": 0.002, "snapshot_gib_hour": 0.0005,
            "image_gib_hour": 0.0001, "types": {"c1": $1}}}
JSON
}
write_config 1.0
nubod_start --dry-run --config "$T_DIR/nubod.json" || { ok 1 "nubod starts"; exit 1; }

op_done() { wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$1 | jq -e '.state==\"succeeded\"' >/dev/null"; }
msg() { body_of "$1" | jq -r .error.message; }
vm_id() { body_of "$(api GET "/v1/vms/$1")" | jq -r .id; }
vm_state() { body_of "$(api GET "/v1/vms/$1")" | jq -r .state; }
ms_of() { echo "$(date -u -d "$1" +%s)000"; }
now_ms() { date +%s%3N; }
# usage QUERY: the body of GET /v1/usage?QUERY
usage() { body_of "$(api GET "/v1/usage?$1")"; }
# row QUERY KEY: "seconds gib_hours cost" of one row
row() { usage "$1" | jq -r --arg k "$2" '.rows[] | select(.key == $k) | "\(.seconds) \(.gib_hours) \(.cost)"'; }
total() { usage "$1" | jq -r '.total | "\(.seconds) \(.gib_hours) \(.cost)"'; }
# span_add RESOURCE KIND NAME TYPE IMAGE BYTES RATE_NANO START END RUN_AT
span_add() {
	t_sql "INSERT INTO usage_spans (resource_id, kind, name, type, image, bytes, rate_nano, started_at, ended_at,
	       seen_at, run_at) VALUES ('$1', '$2', '$3', '$4', '$5', $6, $7, $8, $9, $8, ${10})"
}
# runs VM_ID: the VM's runs, oldest first, as "started ended seen run_at rate"
runs() { t_sql "SELECT started_at, ended_at, seen_at, run_at, rate_nano FROM usage_spans WHERE resource_id = '$1' AND kind = 'vm' ORDER BY id"; }
open_runs() { t_sql "SELECT COUNT(*) FROM usage_spans WHERE resource_id = '$1' AND kind = 'vm' AND ended_at = 0"; }

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "the tiny image is built (dry-run)"

# --- the arithmetic, on spans of 2025 ------------------------------------------------
H=3600000
T10=$(ms_of 2025-03-10T10:00:00Z)
G=$((1 << 30))
# a1: half an hour of c1 at 1.0/h
span_add vm-a1 vm a1 c1 tiny 0 1000000000 "$T10" $((T10 + H / 2)) "$T10"
# a2: 20 s of c2 at 2.0/h: a minute is billed
span_add vm-a2 vm a2 c2 tiny 0 2000000000 "$T10" $((T10 + 20000)) "$T10"
# a3: one run across a price change, 1.0/h then 3.0/h: no second minimum
span_add vm-a3 vm a3 c1 tiny 0 1000000000 "$T10" $((T10 + H / 2)) "$T10"
span_add vm-a3 vm a3 c1 tiny 0 3000000000 $((T10 + H / 2)) $((T10 + H)) "$T10"
# a4: resized after 10 s, stopped 20 s later: 30 s short of the minimum, billed at the first rate
span_add vm-a4 vm a4 c1 tiny 0 1000000000 $((T10 + 2 * H)) $((T10 + 2 * H + 10000)) $((T10 + 2 * H))
span_add vm-a4 vm a4 c2 tiny 0 2000000000 $((T10 + 2 * H + 10000)) $((T10 + 2 * H + 30000)) $((T10 + 2 * H))
# a1's root disk: 10 GiB for 5 hours at 0.001: 50 GiB-hours
span_add vm-a1 disk a1 "" tiny $((10 * G)) 1000000 "$T10" $((T10 + 5 * H)) 0
# v1: a 100 GiB volume across the end of March, 4 hours at 0.002
span_add vol-v1 volume v1 "" "" $((100 * G)) 2000000 "$(ms_of 2025-03-31T22:00:00Z)" "$(ms_of 2025-04-01T02:00:00Z)" 0

Q="from=2025-03-01&to=2025-04-01"
is "$(row "$Q" a1)" "1800 50 0.55" "prorated: half an hour of 1.0/h and 50 GiB-hours of disk at 0.001 cost 0.55"
is "$(row "$Q" a2)" "60 0 0.033333" "a 20 s run is billed the 60 s minimum (2.0/h: 0.033333)"
is "$(row "$Q" a3)" "3600 0 2" "a run across a price change: half an hour at 1.0 and at 3.0, one minimum"
is "$(row "$Q" a4)" "60 0 0.022222" "a run resized within its first minute: 10 s at 1.0, 20 s at 2.0, 30 s more at 1.0"
is "$(row "$Q" v1)" "0 200 0.4" "March has the volume's 2 hours of 100 GiB (200 GiB-hours, 0.4)"
is "$(total "$Q")" "5520 250 3.005556" "the total is the sum of the rows"
is "$(usage "$Q" | jq -r '[.rows[].cost] | add * 1000000 | round / 1000000')" "3.005555" \
	"(the rows' costs, each rounded to millionths, add up to it within their rounding)"
is "$(usage "$Q" | jq -r '.rows[] | select(.key == "a1") | .kind')" "vm" "by vm, a VM's disk is on the VM's row"
is "$(usage "$Q" | jq -r '.rows[] | select(.key == "v1") | .kind')" "volume" "and a volume has a row of its own"
is "$(row "from=2025-04-01&to=2025-05-01" v1)" "0 200 0.4" "April has the other 2 hours"
is "$(total "from=2025-04-01&to=2025-05-01")" "0 200 0.4" "and nothing else"
is "$(row "from=2025-03-10T10:15:00Z&to=2025-03-10T10:45:00Z" a3)" "1800 0 1" \
	"a window inside a run: 15 min at 1.0 and 15 min at 3.0; its minimum was billed at its start"
is "$(row "from=2025-03-10T10:00:10Z&to=2025-03-10T11:00:00Z" a2)" "10 0 0.005556" \
	"a window after a run's start bills its time inside, not its minimum"
Q2="from=2025-03-31&to=2025-04-02&by=day"
is "$(usage "$Q2" | jq -r '[.rows[] | "\(.key)=\(.gib_hours)"] | join(" ")')" "2025-03-31=200 2025-04-01=200" \
	"by day, a span is cut at midnight UTC"
is "$(usage "from=2025-03-10&to=2025-03-11&by=day" | jq -r '[.rows[] | .key] | join(" ")')" "2025-03-10" \
	"a day's runs are on that day"
Q3="$Q&by=type"
is "$(usage "$Q3" | jq -r '[.rows[] | "\(.key)=\(.seconds)"] | join(" ")')" "c1=5440 c2=80 disk=0 volume=0" \
	"by type: each run's time under its type (a4's minimum under its first type)"
is "$(row "$Q3" c2)" "80 0 0.044444" "c2: a2's 20 s and its minimum, and a4's 20 s"
is "$(total "$Q3")" "5520 250 3.005556" "the same total by type"
Q4="$Q&by=image"
is "$(usage "$Q4" | jq -r '[.rows[] | "\(.key)=\(.cost)"] | join(" ")')" "-=0.4 tiny=2.605556" \
	"by image: VMs and their disks under their image, a volume under -"
is "$(total "$Q4")" "5520 250 3.005556" "the same total by image"
out=$("$NUBO" usage --from 2025-03-01 --to 2025-04-01)
like "$out" 'a3 +vm +3600 +0.00 +2.0000' "nubo usage prints a row per VM"
like "$out" 'TOTAL +(- +)?5520 +250.00 +3.005556' "and the totals"
like "$("$NUBO" usage --from 2025-03-01 --to 2025-04-01 --by day)" '2025-03-10 +5520 ' "nubo usage --by day"
is "$("$NUBO" usage --from 2025-03-01 --to 2025-04-01 --json | jq -r .total.cost)" "3.005556" "nubo usage --json"

# --- bad input ---------------------------------------------------------------------
for q in "from=2025-02-30 from" "from=x from" "to=2025-03-01T25:00:00Z to" "to=2025-3-01 to" "by=week by" \
	"from=2025-03-0a from"; do
	set -- $q
	r=$(api GET "/v1/usage?$1")
	is "$(status_of "$r")" 400 "GET /v1/usage?$1 is 400"
	like "$(msg "$r")" "^$2 \"${1#*=}\"" "... and the error names $2 and its value"
done
r=$(api GET "/v1/usage?from=2025-04-01&to=2025-03-01")
is "$(status_of "$r")" 400 "from after to is 400"
like "$(msg "$r")" 'from 2025-04-01T00:00:00Z must be before to 2025-03-01T00:00:00Z' "... naming both"
r=$(api GET "/v1/usage?since=2025-04-01")
is "$(status_of "$r")" 400 "an unknown query parameter is 400"
like "$(msg "$r")" 'unknown query parameter "since"; known: from, to, by' "... naming it"
out=$("$NUBO" usage --by week 2>&1)
is "$?" 1 "nubo usage --by week exits 1"
like "$out" 'by "week" is not a grouping; use vm, type, day or image' "... with the API's reason"

# --- a VM's life: start, stop, start, resize ------------------------------------------
r=$(api POST /v1/vms '{"name":"web1","type":"c1","max_type":"c2","disk_size":"10G"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "web1 (c1, 10G disk) runs"
ID=$(vm_id web1)
is "$(open_runs "$ID")" 1 "a running VM has one open run"
is "$(t_sql "SELECT bytes, rate_nano FROM usage_spans WHERE resource_id = '$ID' AND kind = 'disk' AND ended_at = 0")" \
	"$((10 * G))|1000000" "and its 10 GiB root disk one open span at the disk price"
is "$(runs "$ID" | cut -d'|' -f5)" 1000000000 "the run is at c1's price"
# an hour earlier: the run started an hour ago, as far as the bill knows
# (and was seen running since, as nubod's marks say)
t_sql "UPDATE usage_spans SET started_at = started_at - $H, run_at = run_at - $H
       WHERE resource_id = '$ID' AND kind = 'vm' AND ended_at = 0"
before=$(now_ms)
r=$(api POST /v1/vms/web1/stop '{}')
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "web1 stops"
after=$(now_ms)
IFS='|' read -r s e _ <<<"$(runs "$ID" | tail -n 1)"
is "$(open_runs "$ID")" 0 "a stopped VM has no open run"
ok $([ $((e - s)) -ge "$H" ] && [ "$e" -ge "$before" ] && [ "$e" -le "$after" ] && echo 0 || echo 1) \
	"the run ends when the stop is seen: it lasted the hour and the seconds it really ran, within 1 s" \
	"run $s..$e ($((e - s)) ms), stop asked at $before, done at $after"
is "$(t_sql "SELECT COUNT(*) FROM usage_spans WHERE resource_id = '$ID' AND kind = 'disk' AND ended_at = 0")" 1 \
	"a stopped VM still pays for its disk"
c1=$(body_of "$(api GET /v1/vms/web1)" | jq -r .cost)
want=$(usage "from=2000-01-01&to=2100-01-01" | jq -r '.rows[] | select(.key == "web1") | .cost')
# near: the disk goes on costing a little between the two requests
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(d < 0.00001 && d > -0.00001) }'; }
near "$c1" "$want"
ok $? "vm show's cost so far is what usage says for the VM" "vm show: $c1, usage: $want"
like "$c1" '^1\.0' "... about an hour at 1.0"
like "$("$NUBO" vm show web1)" "Cost: +${c1:0:6}[0-9]* so far" "nubo vm show prints it"
like "$("$NUBO" vm list)" "web1 +stopped +c1 .* ${c1:0:4}[0-9]*$" "nubo vm list has a COST column"
near "$(body_of "$(api GET /v1/vms)" | jq -r '.vms[] | select(.name == "web1") | .cost')" "$c1"
ok $? "GET /v1/vms gives the same cost"

r=$(api POST /v1/vms/web1/start '{}')
op_done "$(body_of "$r" | jq -r .operation.id)"
is "$(open_runs "$ID")" 1 "start again: a new run"
IFS='|' read -r s2 _ _ run2 _ <<<"$(runs "$ID" | tail -n 1)"
is "$run2" "$s2" "the new run begins its own minute (run_at is its start)"
open_run() { t_sql "SELECT id FROM usage_spans WHERE resource_id = '$1' AND kind = 'vm' AND ended_at = 0"; }
span=$(open_run "$ID")
r=$(api POST /v1/vms/web1/reboot '{}')
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "web1 reboots"
is "$(open_run "$ID")" "$span" "a reboot goes on with the same run: no end, no new minute"
r=$(api POST /v1/vms/web1/resize '{"type":"c2"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "a live resize to c2"
is "$(runs "$ID" | wc -l)" 3 "a resize closes the c1 run and opens a c2 one"
IFS='|' read -r _ e2 _ _ _ <<<"$(runs "$ID" | sed -n 2p)"
IFS='|' read -r s3 e3 _ run3 rate3 <<<"$(runs "$ID" | sed -n 3p)"
is "$s3 $e3 $run3 $rate3" "$e2 0 $run2 2000000000" "the c2 run starts where c1's ended, open, as the same run, at c2's price"
sec_before=$(row "from=2000-01-01&to=2100-01-01" web1 | cut -d' ' -f1)
r=$(api POST /v1/vms/web1/stop '{}')
op_done "$(body_of "$r" | jq -r .operation.id)"
r=$(api POST /v1/vms/web1/resize '{"type":"c1"}')
is "$(status_of "$r")" 202 "a stopped VM resizes to c1"
op_done "$(body_of "$r" | jq -r .operation.id)"
is "$(open_runs "$ID")" 0 "a stopped VM's resize opens no run"
is "$(runs "$ID" | wc -l)" 3 "and adds none"

# --- kill -9 of nubod: a VM that keeps running -----------------------------------------
r=$(api POST /v1/vms/web1/start '{}')
op_done "$(body_of "$r" | jq -r .operation.id)"
span=$(t_sql "SELECT id FROM usage_spans WHERE resource_id = '$ID' AND kind = 'vm' AND ended_at = 0")
t_sql "UPDATE usage_spans SET started_at = started_at - $H, run_at = run_at - $H WHERE id = $span"
nubod_kill9
sleep 1
killed=$(now_ms)
nubod_start --dry-run --config "$T_DIR/nubod.json" || { ok 1 "nubod starts again"; exit 1; }
is "$(vm_state web1)" running "after a kill -9 of nubod, web1 is adopted, running"
is "$(t_sql "SELECT id FROM usage_spans WHERE resource_id = '$ID' AND kind = 'vm' AND ended_at = 0")" "$span" \
	"its run goes on: the same span, still open, none added"
seen_after_restart() { [ "$(t_sql "SELECT seen_at FROM usage_spans WHERE id = $span")" -ge "$killed" ]; }
wait_for 10 seen_after_restart
ok $? "the restarted nubod marks the run seen after its first look at the VM"
before=$(now_ms)
r=$(api POST /v1/vms/web1/stop '{}')
op_done "$(body_of "$r" | jq -r .operation.id)"
after=$(now_ms)
IFS='|' read -r s e _ <<<"$(t_sql "SELECT started_at, ended_at FROM usage_spans WHERE id = $span")"
ok $([ "$e" -ge "$before" ] && [ "$e" -le "$after" ] && [ $((e - s)) -ge "$H" ] && echo 0 || echo 1) \
	"the run ends at the stop: nubod's time away is billed once, as the VM ran through it" \
	"run $s..$e, stop $before..$after"

# --- kill -9 of nubod while the VM's QEMU dies --------------------------------------------
r=$(api POST /v1/vms/web1/start '{}')
op_done "$(body_of "$r" | jq -r .operation.id)"
span=$(t_sql "SELECT id FROM usage_spans WHERE resource_id = '$ID' AND kind = 'vm' AND ended_at = 0")
nubod_kill9
# As if the VM had started two hours ago, nubod had died an hour ago (its
# last mark), and the QEMU had died while nubod was away (no pid: gone).
now=$(now_ms)
t_sql "UPDATE usage_spans SET started_at = $((now - 2 * H)), run_at = $((now - 2 * H)), seen_at = $((now - H)) WHERE id = $span"
t_sql "UPDATE vms SET pid = 0 WHERE id = '$ID'"
nubod_start --dry-run --config "$T_DIR/nubod.json" || { ok 1 "nubod starts again"; exit 1; }
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms/web1 | jq -e '.state == \"error\"' >/dev/null"
ok $? "the restarted nubod finds web1's QEMU gone: error"
is "$(t_sql "SELECT ended_at - started_at, ended_at - seen_at FROM usage_spans WHERE id = $span")" "$H|0" \
	"the run ends at the last moment the VM was seen: exactly its hour, not nubod's time away"
is "$(open_runs "$ID")" 0 "and nothing is left open"

# --- a new price: open spans are split at the change ------------------------------------------
r=$(api POST /v1/vms/web1/start '{}')
op_done "$(body_of "$r" | jq -r .operation.id)"
span=$(t_sql "SELECT id FROM usage_spans WHERE resource_id = '$ID' AND kind = 'vm' AND ended_at = 0")
nubod_stop
write_config 4.0
nubod_start --dry-run --config "$T_DIR/nubod.json" || { ok 1 "nubod starts with c1 at 4.0"; exit 1; }
IFS='|' read -r e rate <<<"$(t_sql "SELECT ended_at, rate_nano FROM usage_spans WHERE id = $span")"
is "$rate" 1000000000 "after a price change the old run keeps its price"
ok $([ "$e" -gt 0 ] && echo 0 || echo 1) "and is closed"
IFS='|' read -r s run rate <<<"$(t_sql "SELECT started_at, run_at, rate_nano FROM usage_spans WHERE resource_id = '$ID' AND kind = 'vm' AND ended_at = 0")"
is "$s $rate" "$e 4000000000" "the new price runs from that moment on"
is "$run" "$(t_sql "SELECT run_at FROM usage_spans WHERE id = $span")" "as the same run (no second minimum)"

# --- volumes, snapshots, delete --------------------------------------------------------------
r=$(api POST /v1/volumes '{"name":"data","size":"2G"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
VOL=$(body_of "$(api GET /v1/volumes/data)" | jq -r .id)
is "$(t_sql "SELECT kind, bytes, rate_nano, ended_at FROM usage_spans WHERE resource_id = '$VOL'")" \
	"volume|$((2 * G))|2000000|0" "a volume's span opens with it, at its size and price"
r=$(api DELETE /v1/volumes/data)
op_done "$(body_of "$r" | jq -r .operation.id)"
is "$(t_sql "SELECT COUNT(*) FROM usage_spans WHERE resource_id = '$VOL' AND ended_at = 0")" 0 "and closes when it is deleted"
r=$(api DELETE /v1/vms/web1)
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "web1 is deleted"
is "$(t_sql "SELECT COUNT(*) FROM usage_spans WHERE resource_id = '$ID' AND ended_at = 0")" 0 "a deleted VM's run and disk are closed"
ok $([ "$(t_sql "SELECT COUNT(*) FROM usage_spans WHERE resource_id = '$ID'")" -gt 0 ] && echo 0 || echo 1) \
	"and its spans stay: what it cost is still in the bill"
like "$("$NUBO" usage --from 2000-01-01 --to 2100-01-01)" '^web1 +vm ' "nubo usage still lists the deleted VM"

# --- budgets ----------------------------------------------------------------------------------
r=$(api GET /v1/budget)
is "$(body_of "$r" | jq -r '"\(.level) \(.monthly)"')" "none null" "no budget at first"
for b in '{"monthly":-1}' '{"monthly":"50"}' '{"monthly":true}' '{"monthly":1e13}'; do
	r=$(api PUT /v1/budget "$b")
	is "$(status_of "$r")" 400 "PUT /v1/budget $b is 400"
	like "$(msg "$r")" '^field "monthly" .* must be a number from 0' "... naming the field and value"
done
r=$(api PUT /v1/budget '{}')
is "$(status_of "$r")" 400 "a budget without monthly is 400"
like "$(msg "$r")" 'field "monthly" is required' "... saying what is missing"
r=$(api PUT /v1/budget '{"monthly":5,"weekly":1}')
is "$(status_of "$r")" 400 "an unknown field is 400"
like "$(msg "$r")" 'unknown field "weekly"' "... naming it"
out=$("$NUBO" budget set --monthly abc 2>&1)
is "$?" 2 "nubo budget set --monthly abc exits 2"
like "$out" '--monthly "abc" must be an amount' "... saying why"
is "$(body_of "$(api GET /v1/budget)" | jq -r .level)" none "and nothing was set by a bad input"

# This month's cost so far: this script's VMs and a minute of c1 just now
# (so that it is not 0 when the script runs at the very start of a month).
now=$(now_ms)
span_add vm-b1 vm b1 c1 tiny 0 1000000000 $((now - 60000)) "$now" $((now - 60000))
C=$(body_of "$(api GET /v1/budget)" | jq -r .month_cost)
B=$(awk -v c="$C" 'BEGIN { printf "%.6f", c / 0.5 }')
out=$("$NUBO" budget set --monthly "$B")
is "$?" 0 "nubo budget set --monthly $B"
like "$out" "Monthly: +[0-9.]+" "... shows it"
like "$("$NUBO" events --kind budget)" "budget: monthly: none→" "setting a budget records an event"
out=$("$NUBO" vm list 2>&1 >/dev/null)
is "$out" "" "at 50 % vm list warns of nothing"
B=$(awk -v c="$C" 'BEGIN { printf "%.6f", c / 0.85 }')
"$NUBO" budget set --monthly "$B" >/dev/null
is "$(body_of "$(api GET /v1/budget)" | jq -r .level)" warning "at 85 % the level is warning"
like "$("$NUBO" vm list 2>&1 >/dev/null)" "warning: this month's cost, .* is 8[0-9] % of the monthly budget" \
	"and nubo vm list warns"
B=$(awk -v c="$C" 'BEGIN { printf "%.6f", c / 2 }')
"$NUBO" budget set --monthly "$B" >/dev/null
is "$(body_of "$(api GET /v1/budget)" | jq -r .level)" exceeded "at 200 % the level is exceeded"
like "$("$NUBO" vm list 2>&1 >/dev/null)" "is [0-9]+ % of the monthly budget .*: the budget is used up" \
	"and nubo vm list says the budget is used up"
is "$("$NUBO" vm list --json 2>&1 | jq -r '.vms | length')" "$("$NUBO" vm list --json | jq -r '.vms | length')" \
	"vm list --json stays JSON alone"
like "$("$NUBO" budget show)" "Status: +exceeded" "nubo budget show"
"$NUBO" budget set --monthly 0 >/dev/null
is "$(body_of "$(api GET /v1/budget)" | jq -r .level)" none "--monthly 0 removes the budget"
is "$("$NUBO" events --kind budget | wc -l)" 4 "each change of the budget is an event"

# GET /v1/vms puts each VM's own cost at its end: three VMs with 3, 1 and 2
# hours of c1 behind them (spans of 2025), listed in name order.
now=$(now_ms)
for h in "cost-a 3" "cost-b 1" "cost-c 2"; do
	set -- $h
	r=$(api POST /v1/vms "{\"name\":\"$1\",\"type\":\"c1\"}")
	id=$(body_of "$r" | jq -r .vm.id)
	span_add "$id" vm "$1" c1 tiny 0 1000000000 1735689600000 $((1735689600000 + $2 * 3600000)) 1735689600000
done
list=$(body_of "$(api GET "/v1/vms?limit=1000")")
for h in "cost-a 3" "cost-b 1" "cost-c 2"; do
	set -- $h
	c=$(printf '%s' "$list" | jq -r --arg n "$1" '.vms[] | select(.name == $n) | .cost')
	awk -v c="$c" -v h="$2" 'BEGIN { exit !(c >= h && c < h + 0.1) }'
	ok $? "GET /v1/vms gives $1 the cost of its own $2 h ($c)"
	awk -v a="$c" -v b="$(body_of "$(api GET "/v1/vms/$1")" | jq -r .cost)" 'BEGIN { d = a - b; exit !(d < 0.001 && d > -0.001) }'
	ok $? "... as vm show does, give or take the seconds between the two"
done
