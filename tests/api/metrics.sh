#!/usr/bin/env bash
# API tests of metrics and idle stop: a real nubod and store, the host layer
# in dry-run, VM CPU fed through the dry-run hook (STATE/dry-run-cpu/, see
# host/cgroup.h). nubod samples every second here, rolls 5 s buckets and
# keeps 20 s of fine points (nubod.json "metrics"), so the history, its
# roll-up and its pruning are all seen within the test. GET /metrics goes
# through Prometheus's own parser, over TCP with and without a token; an
# idle VM is stopped with its reason in the event log while a busy one and
# a group's member keep running; after a kill -9 of nubod, policies stay and
# sampling goes on from a fresh baseline.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

TLS=$T_DIR/tls
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/cert.key" -out "$TLS/cert.pem" >/dev/null 2>&1
chmod 600 "$TLS/cert.key"
PORT=
for p in $(shuf -i 20000-60000 -n 100); do ss -Hltn "sport = :$p" | grep -q . || { PORT=$p; break; }; done
URL=https://127.0.0.1:$PORT

# --- bad settings are refused naming them ---
echo '{"metrics": {"interval": "2s", "coarse_step": "3s"}}' >"$T_DIR/bad.json"
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --config "$T_DIR/bad.json" 2>&1)
like "$out" '"coarse_step" 3s must be a multiple of "interval" 2s' "a coarse step that is no multiple of the interval is refused"
echo '{"idle_stop": {"after": "5s"}}' >"$T_DIR/bad.json"
out=$("$NUBOD" --dry-run --state-dir "$T_DIR/s2" --socket "$T_DIR/s2.sock" --config "$T_DIR/bad.json" 2>&1)
like "$out" '"idle_stop": "after" "5s" is out of range: 10s to 30d' "an idle window below 10s is refused"

cat >"$T_DIR/nubod.json" <<'JSON'
{"metrics": {"interval": "1s", "keep": "20s", "coarse_step": "5s", "coarse_keep": "1h"}}
JSON
nubod_start --dry-run --config "$T_DIR/nubod.json" --listen 127.0.0.1:$PORT --tls-cert "$TLS/cert.pem" \
	--tls-key "$TLS/cert.key" || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run, sampling every second"

op_done() { wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/operations/$1 | jq -e '.state==\"succeeded\"' >/dev/null"; }
msg() { body_of "$1" | jq -r .error.message; }
vm_id() { body_of "$(api GET "/v1/vms/$1")" | jq -r .id; }
vm_state() { body_of "$(api GET "/v1/vms/$1")" | jq -r .state; }
stats() { body_of "$(api GET "/v1/vms/$1/stats${2:+?$2}")"; }
now_ms() { date +%s%3N; }

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
op_done "$(body_of "$r" | jq -r .operation.id)"
ok $? "the image is built (dry-run)"
for v in busy idle keep; do
	r=$(api POST /v1/vms "{\"name\":\"$v\",\"type\":\"nano\"}")
	op_done "$(body_of "$r" | jq -r .operation.id)"
	ok $? "VM $v runs"
done
mkdir -p "$T_STATE/dry-run-cpu"
chmod 755 "$T_STATE/dry-run-cpu"
echo 40 >"$T_STATE/dry-run-cpu/$(vm_id busy)"
echo 2 >"$T_STATE/dry-run-cpu/$(vm_id idle)"
echo 1 >"$T_STATE/dry-run-cpu/$(vm_id keep)"

# --- the series ---
wait_for 15 sh -c "curl -s --unix-socket $T_SOCK 'http://nubo/v1/vms/busy/stats?since=15s' | jq -e '.samples | length >= 4' >/dev/null"
ok $? "samples of a running VM appear, one a second" "$(stats busy since=15s; grep 'metrics:' "$T_LOG" | tail -3)"
s=$(stats busy since=15s)
is "$(jq -r '"\(.vm) \(.step) \(.resolution)"' <<<"$s")" "busy 1000 1000" "the answer names the VM, its step and resolution"
is "$(jq -r '.samples[0] | keys_unsorted | join(" ")' <<<"$s")" \
	"t cpu_pct mem_bytes net_rx_bytes net_tx_bytes net_rx_packets net_tx_packets disk_read_bytes disk_write_bytes disk_read_ops disk_write_ops" \
	"a sample has its time and every figure"
is "$(jq '[.samples[1:][] | select(.cpu_pct == null or .cpu_pct < 38 or .cpu_pct > 42)] | length' <<<"$s")" 0 \
	"CPU is what the VM burns: 40 % (after the first point)" "$(jq -c '[.samples[].cpu_pct]' <<<"$s")"
is "$(jq '[.samples[] | select(.t % 1000 != 0)] | length' <<<"$s")" 0 "points sit on whole steps"
is "$(jq '[.samples[] | .mem_bytes, .net_rx_bytes, .disk_write_ops] | unique' -c <<<"$s")" "[null]" \
	"figures the dry-run host cannot read are null, not 0"
is "$(stats idle since=15s | jq '[.samples[1:][] | select(.cpu_pct > 3)] | length')" 0 "another VM has its own figures"
s=$(stats busy 'since=15s&step=3s')
is "$(jq '[.samples[] | select(.t % 3000 != 0)] | length' <<<"$s")" 0 "step=3s merges points into 3 s buckets"
is "$(jq '[.samples[1:-1][] | select(.cpu_pct < 38 or .cpu_pct > 42)] | length' <<<"$s")" 0 "averaging the CPU"

# --- bad queries ---
bad() { # bad QUERY REGEX DESCRIPTION
	local r; r=$(api GET "/v1/vms/busy/stats?$1")
	is "$(status_of "$r")" 400 "$3: 400"
	like "$(msg "$r")" "$2" "$3: the error names it"
}
bad 'since=soon' 'since "soon"' "a since that is no duration or time"
bad 'since=50m&step=1500ms' 'step "1500ms" must be a multiple of 5s' "a step finer than what is kept"
bad 'step=3' 'step "3" is not a duration' "a step without a unit"
bad 'since=2d' 'since "2d" is out of range: 1s to 1h' "a window longer than anything is kept"
bad 'colour=red' 'colour' "an unknown parameter"
r=$(api GET /v1/vms/nope/stats)
is "$(status_of "$r")" 404 "an unknown VM is 404"

# --- roll-up and pruning ---
sleep 22
s=$(stats busy 'since=50s')
is "$(jq -r .resolution <<<"$s")" 5000 "beyond 20 s the series comes from the 5 s points"
is "$(jq '[.samples[1:-1][] | select(.cpu_pct < 38 or .cpu_pct > 42)] | length' <<<"$s")" 0 "keeping the average CPU" \
	"$(jq -c '[.samples[].cpu_pct]' <<<"$s")"
[ "$(jq '.samples | length >= 3' <<<"$s")" = true ]
ok $? "the fine points were rolled up into 5 s ones" "$s"
old=$(t_sql "SELECT COUNT(*) FROM vm_metrics WHERE step = 1000 AND t < $(($(now_ms) - 27000))")
is "$old" 0 "fine points older than 20 s (and a roll-up) are pruned"

# --- Prometheus text ---
curl -s --unix-socket "$T_SOCK" http://nubo/metrics >"$T_DIR/metrics.txt"
body=$(cat "$T_DIR/metrics.txt")
# Debian's python3-prometheus-client (scripts/install-deps.sh), whatever python3 is first in PATH
out=$(/usr/bin/python3 - "$T_DIR/metrics.txt" <<'PY' 2>&1
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def val(name, **labels):
    for f in fams.values():
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None
print("cpu_pct", round(val("nubo_vm_cpu_percent", vm="busy")))
print("cpu_s", val("nubo_vm_cpu_seconds_total", vm="busy") > 0)
print("types", fams["nubo_vm_cpu_seconds"].type, fams["nubo_api_request_duration_seconds"].type)
print("running", int(val("nubo_host_vms_running")))
print("api", val("nubo_api_request_duration_seconds_count") > 0)
print("rec", val("nubo_reconciler_passes_total", reconciler="instances") > 0)
print("mem", val("nubo_vm_memory_bytes", vm="busy"))
PY
)
like "$out" 'cpu_pct 40' "GET /metrics parses, with the VM's CPU percent" "$out"
like "$out" 'cpu_s True' "and its CPU seconds counter"
like "$out" 'types counter histogram' "counters are counters and the API latency a histogram"
like "$out" 'running 3' "the host's running VMs"
like "$out" 'api True' "the API latency histogram counts requests"
like "$out" 'rec True' "reconciler timings"
like "$out" 'mem None' "a figure that cannot be read is left out"
is "$(grep -c '^nubo_vm_vcpus{vm="busy",host="' <<<"$body")" 1 "per-VM lines carry vm and host labels"
r=$(curl -s --cacert "$TLS/cert.pem" -o /dev/null -w '%{http_code}' "$URL/metrics")
is "$r" 401 "over TCP, /metrics without a token is 401"
secret=$(body_of "$(api POST /v1/tokens '{"name":"scraper"}')" | jq -r .secret)
r=$(curl -s --cacert "$TLS/cert.pem" -H "Authorization: Bearer $secret" "$URL/metrics")
like "$r" '# TYPE nubo_vm_cpu_seconds_total counter' "and with one it is the Prometheus text"

# --- the CLI ---
out=$("$NUBO" --socket "$T_SOCK" vm stats busy --since 10s 2>&1)
like "$out" 'VM busy: [0-9]+ points, one every 1(\.0)?s' "nubo vm stats says what it shows" "$out"
like "$out" 'CPU % +4[0-9]' "the CPU now"
like "$out" 'CPU % +4[0-9] +█+' "and a sparkline: a steady 40 % is a row of full bars"
out=$("$NUBO" --socket "$T_SOCK" vm stats busy --json 2>&1)
is "$(jq -r .vm <<<"$out")" busy "--json prints the API's answer"

# --- idle stop ---
r=$(api PUT /v1/vms/idle/idle-stop '{"after":"5s"}')
is "$(status_of "$r")" 400 "a window below 10 s is 400"
like "$(msg "$r")" 'field "after" "5s" is out of range: 10s to 30d' "naming the field and value"
r=$(api PUT /v1/vms/idle/idle-stop '{"after":"10s","cpu":"150%"}')
like "$(msg "$r")" 'field "cpu" "150%" is not a percentage' "a CPU threshold above 100 % is refused"
r=$(api PUT /v1/vms/idle/idle-stop '{"cpu":"5%"}')
like "$(msg "$r")" 'field "after" is required' "the window is required"
r=$(api PUT /v1/vms/idle/idle-stop '{"after":"10s","colour":1}')
like "$(msg "$r")" 'unknown field "colour"' "an unknown field is refused"
is "$(t_sql 'SELECT COUNT(*) FROM idle_policies')" 0 "refused policies left nothing behind"
is "$(body_of "$(api GET /v1/vms/idle/idle-stop)" | jq -r '"\(.after) \(.source)"')" "off default" \
	"without a policy of its own a VM has the default: off"

out=$("$NUBO" --socket "$T_SOCK" vm set idle --idle-stop 10s --idle-cpu 5% 2>&1)
like "$out" 'VM idle stops after 10s below 5% CPU' "nubo vm set --idle-stop sets the policy" "$out"
r=$(api PUT /v1/vms/busy/idle-stop '{"after":"10s","cpu":5}')
is "$(body_of "$r" | jq -r '"\(.after) \(.cpu) \(.source)"')" "10s 5 vm" "a busy VM gets the same policy"
# a group's member idles too, under the same policy
r=$(api POST /v1/groups '{"name":"g","type":"nano","min":1,"max":1}')
is "$(status_of "$r")" 201 "a group of one"
wait_for 15 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/groups/g | jq -e '.members[0].vm_state==\"running\"' >/dev/null"
ok $? "its member runs"
member=$(body_of "$(api GET /v1/groups/g)" | jq -r '.members[0].name')
echo 1 >"$T_STATE/dry-run-cpu/$(vm_id "$member")"
is "$(status_of "$(api PUT "/v1/vms/$member/idle-stop" '{"after":"10s"}')")" 200 "the member gets a policy too"
since=$(now_ms)
wait_for 30 sh -c "[ \"\$(curl -s --unix-socket $T_SOCK http://nubo/v1/vms/idle | jq -r .state)\" = stopped ]"
ok $? "the idle VM is stopped" "$(vm_state idle)"
ev=$(body_of "$(api GET '/v1/events?name=idle&limit=1000')")
like "$(jq -r '.events[].what' <<<"$ev")" 'idle: stops in [0-9]+s unless busy' "an event warned before"
like "$(jq -r '.events[].what' <<<"$ev")" 'idle-stopped: below 5% CPU and 10240 B/s network for 1[0-9]s; saves 0.10 a day' \
	"an event says why it stopped and what it saves" "$(jq -r '.events[].what' <<<"$ev")"
op=$(jq -r '.events[] | select(.what | startswith("idle-stopped")) | .detail.operation' <<<"$ev")
is "$(body_of "$(api GET "/v1/operations/$op")" | jq -r '"\(.kind) \(.target_name)"')" "stop idle" \
	"the stop is an operation, named in the event"
is "$(vm_state busy)" running "the busy VM keeps running"
is "$(vm_state "$member")" running "the group's member keeps running however idle"
is "$(vm_state keep)" running "a VM without a policy keeps running"
r=$(api DELETE /v1/vms/busy/idle-stop)
is "$(body_of "$r" | jq -r '"\(.after) \(.source)"')" "off default" "DELETE goes back to the default"

# --- kill -9: nothing lost, nothing doubled ---
# (The newest point's time, not a count: 20 s of fine points are kept, so
# their count stays level while new ones come and old ones go.)
newest() { t_sql "SELECT COALESCE(MAX(t), 0) FROM vm_metrics WHERE vm_id = '$(vm_id busy)' AND step = 1000"; }
before=$(newest)
nubod_kill9
nubod_start --dry-run --config "$T_DIR/nubod.json" || { ok 1 "nubod starts again after kill -9"; exit 1; }
is "$(body_of "$(api GET /v1/vms/idle/idle-stop)" | jq -r '"\(.after) \(.source)"')" "10s vm" "a policy outlives a kill -9"
more() { [ "$(newest)" -gt "$before" ]; }
wait_for 10 more
ok $? "sampling goes on after the restart"
is "$(stats busy since=15s | jq '[.samples[1:][] | select(.cpu_pct == null or .cpu_pct < 38 or .cpu_pct > 42)] | length')" 0 \
	"and the new points are right: a restarted sampler starts from a baseline"

nubod_stop
is "$?" 0 "nubod stops cleanly with its sampler"
