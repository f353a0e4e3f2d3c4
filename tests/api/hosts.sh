#!/usr/bin/env bash
# api: many hosts on one PostgreSQL database (docs/cluster.md). Three
# dry-run nubods, h1 h2 h3, each with its own state directory and socket,
# share one database: placement by capacity (spread, pack, pin), drain,
# remove, the heartbeat (a stopped host turns down and its VMs unknown; back
# when it restarts), concurrent creates through every host never
# overcommitting one, and a VM asked for through h1's API launched by h2.
#
# Always on PostgreSQL: in the SQLite api suite it starts a private cluster
# of its own (lib.sh does, with NUBO_TEST_DATABASE=postgres and no
# NUBO_TEST_PG_DIR).
set -u
export NUBO_TEST_DATABASE=postgres
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hosts-lib.sh"
conf "$T_DIR/h1.json"
conf "$T_DIR/h2.json"
conf "$T_DIR/h3.json" pack

hstart h1 || { ok 1 "h1 starts"; exit 1; }
ok 0 "h1 starts"
"$NUBO" image build tiny --wait >/dev/null 2>&1
ok $? "image tiny is built (through h1)"
hstart h2 || { ok 1 "h2 starts"; exit 1; }
hstart h3 || { ok 1 "h3 starts"; exit 1; }
ok 0 "h2 and h3 start on the same database"

r=$(hapi h2 GET /v1/hosts)
is "$(body_of "$r" | jq -r '[.hosts[] | "\(.name):\(.state):\(.address)"] | join(" ")')" \
	"h1:up:192.0.2.11 h2:up:192.0.2.12 h3:up:192.0.2.13" "every host's API lists the three hosts, up, with their addresses"
CAP=$(body_of "$r" | jq -r '.hosts[0].vcpus_allocatable')
[ "$CAP" -ge 1 ] 2>/dev/null
ok $? "a host has vCPUs to give ($CAP)"
is "$(body_of "$(hapi h3 GET /v1/version)" | jq -r .host)" h3 "GET /v1/version names the host that answers"
out=$("$NUBO" host list)
like "$(printf '%s' "$out" | head -1)" '^NAME +STATE +VCPUS +MEMORY +VMS +HEARTBEAT$' "nubo host list has its columns"
like "$(printf '%s' "$out" | grep '^h2 ')" "^h2 +up +0/$CAP +" "nubo host list shows h2 up with 0/$CAP vCPUs"

# --- spread, pin, pack -----------------------------------------------------------
is "$(create h1 s1)" 202 "s1 is created through h1"
is "$(create h1 s2)" 202 "s2 is created through h1"
is "$(create h1 s3)" 202 "s3 is created through h1"
is "$(host_of s1),$(host_of s2),$(host_of s3)" "h1,h2,h3" "spread: equal hosts take new VMs in turn"
like "$("$NUBO" vm list | head -1)" 'NAME +STATE +TYPE +IMAGE +IP +HOST +AGE' "nubo vm list has a HOST column"
like "$("$NUBO" vm show s2)" 'Host: +h2' "nubo vm show says which host"

is "$(create h1 p1 '"host":"h3"')" 202 "p1 is created through h1, pinned to h3"
is "$(host_of p1)" h3 "a pinned VM goes to its host"
r=$(hapi h1 POST /v1/vms '{"name":"p2","type":"c1","host":"h9"}')
is "$(status_of "$r")" 422 "a pin to an unknown host is refused (422)"
like "$(body_of "$r" | jq -r .error.message)" 'host "h9" does not exist; hosts: h1, h2, h3' "the error names the hosts"

# h2 launches the VM h1 recorded for it: only h2's dry-run log has its QEMU.
P1=$(body_of "$(hapi h1 GET /v1/vms/s2)" | jq -r .id)
wait_for 10 grep -q "qemu-system.*$P1" "${STATE[h2]}/dry-run.log"
ok $? "s2 (asked through h1, placed on h2) is launched by h2's nubod"
grep -q "qemu-system.*$P1" "$T_STATE/dry-run.log"
is "$?" 1 "h1's nubod does not launch it"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms/s2 | jq -r .state)\" = running ]"
ok $? "s2 runs (seen through h1's API)"
r=$(hapi h1 POST /v1/vms/s2/stop)
is "$(status_of "$r")" 202 "a stop of s2 is asked through h1"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms/s2 | jq -r .state)\" = stopped ]"
ok $? "h2 stops s2 (woken through the event log)"
r=$(hapi h1 GET /v1/vms/s2/console)
is "$(status_of "$r")" 409 "h1 refuses the console of a VM on h2 (the log is there)"

delete_all
ok $? "every VM is deleted (each by its own host)"
for i in 1 2 3; do create h3 "k$i" >/dev/null; done
is "$(host_of k1),$(host_of k2)" "h1,h1" "pack (h3's placement): the first host is filled first" 
if [ "$CAP" -ge 3 ]; then want=h1; else want=h2; fi
is "$(host_of k3)" "$want" "pack goes on to the next host once one is full"
delete_all

# --- drain, remove -----------------------------------------------------------------
r=$(hapi h1 POST /v1/hosts/h2/drain)
is "$(status_of "$r")" 200 "POST /v1/hosts/h2/drain answers 200"
is "$(host_state h2)" draining "h2 is draining"
r=$(hapi h1 POST /v1/vms '{"name":"d1","type":"c1","host":"h2"}')
is "$(status_of "$r")" 409 "a draining host refuses new VMs (409)"
like "$(body_of "$r" | jq -r .error.message)" 'host h2 is draining' "the error says it is draining"
for i in 1 2 3 4; do create h1 "d$i" >/dev/null; done
is "$(body_of "$(hapi h1 GET /v1/vms)" | jq -r '[.vms[] | select(.host == "h2")] | length')" 0 "placement skips a draining host"
out=$("$NUBO" host undrain h2)
ok $? "nubo host undrain h2" "$out"
is "$(host_state h2)" up "h2 is up again"
is "$(create h1 d9 '"host":"h2"')" 202 "an undrained host takes new VMs"
r=$(hapi h1 DELETE /v1/hosts/h2)
is "$(status_of "$r")" 409 "a host holding VMs is not removed (409)"
like "$(body_of "$r" | jq -r .error.message)" 'host h2 holds 1 VM' "the error says how many VMs it holds"
delete_all

# --- concurrent creates through every host ----------------------------------------
total=$((3 * CAP))
pids=()
for i in $(seq 1 $((total + 3))); do
	h=h$(((i % 3) + 1))
	{ create "$h" "c$i"; echo; } >"$T_DIR/c$i.status" &
	pids+=($!)
done
wait "${pids[@]}"
n202=$(cat "$T_DIR"/c*.status | grep -c '^202$')
n507=$(cat "$T_DIR"/c*.status | grep -c '^507$')
is "$n202/$n507" "$total/3" "concurrent creates through three hosts: as many admitted as there are vCPUs, the rest 507"
over=$(body_of "$(hapi h1 GET /v1/hosts)" | jq -r '[.hosts[] | select(.vcpus_used > .vcpus_allocatable)] | length')
is "$over" 0 "no host is overcommitted"
delete_all

# --- heartbeat: down, unknown, back -------------------------------------------------
is "$(create h1 u1 '"host":"h2"')" 202 "u1 is placed on h2"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/vms/u1 | jq -r .state)\" = running ]"
ok $? "u1 runs on h2"
kill -9 "${PID[h2]}"; wait "${PID[h2]}" 2>/dev/null; PID[h2]=
wait_for 15 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/hosts/h2 | jq -r .state)\" = down ]"
ok $? "h2 is down once its heartbeat is older than host_down_after_s"
# marked by h1 or h3 at their next beat (a quarter of host_down_after_s at most)
wait_for 5 sh -c "[ \"\$(curl -s --unix-socket '${SOCK[h3]}' http://nubo/v1/vms/u1 | jq -r .state)\" = unknown ]"
r=$(body_of "$(hapi h3 GET /v1/vms/u1)")
is "$(jq -r .state <<<"$r")/$(jq -r .last_state <<<"$r")" unknown/running "u1's state is unknown (last seen running)"
like "$(jq -r .reason <<<"$r")" '^host h2 is down: no heartbeat since ' "the reason names its host"
like "$("$NUBO" host list | grep '^h2 ')" '^h2 +down ' "nubo host list shows h2 down"
is "$(create h1 u2 '"host":"h2"')" 409 "a down host takes no new VMs"
is "$(create h1 u3)" 202 "placement goes around a down host"
[ "$(host_of u3)" != h2 ]
ok $? "u3 is not placed on h2"
hstart h2
ok $? "h2's nubod starts again"
wait_for 10 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/hosts/h2 | jq -r .state)\" = up ]"
ok $? "h2 is up again"
r=$(body_of "$(hapi h1 GET /v1/vms/u1)")
is "$(jq -r .state <<<"$r")/$(jq -r .reason <<<"$r")" running/null "u1 shows its real state again"
delete_all

# --- remove a host that is gone ------------------------------------------------------
r=$(hapi h1 DELETE /v1/hosts/h3)
is "$(status_of "$r")" 409 "a host that still beats is not removed (409)"
hstop h3
wait_for 15 sh -c "[ \"\$(curl -s --unix-socket '$T_SOCK' http://nubo/v1/hosts/h3 | jq -r .state)\" = down ]"
ok $? "h3 is down after its nubod stopped"
out=$("$NUBO" host remove h3)
ok $? "nubo host remove h3" "$out"
is "$(body_of "$(hapi h1 GET /v1/hosts)" | jq -r '[.hosts[].name] | join(",")')" "h1,h2" "h3 is gone from the list"
is "$(status_of "$(hapi h1 GET /v1/hosts/h3)")" 404 "GET /v1/hosts/h3 is 404"

# --- bad input ------------------------------------------------------------------------
bad() {   # bad WANT_MESSAGE FLAGS...: nubod refuses to start, saying WANT_MESSAGE
	local want=$1 out rc; shift
	out=$("$NUBOD" --state-dir "$T_DIR/bad-state" --socket "$T_DIR/bad.sock" --dry-run "$@" 2>&1)
	rc=$?
	like "$rc: $out" "^[12]: .*$want" "nubod refuses $* ($want)"
}
bad '--host-name "H_1"' --host-name H_1
bad '--advertise "a b" must be an address' --advertise "a b"
printf '{"placement": "fast"}' >"$T_DIR/bad1.json"
bad '"placement" must be "spread" or "pack"' --config "$T_DIR/bad1.json"
printf '{"host_down_after_s": 0}' >"$T_DIR/bad2.json"
bad '"host_down_after_s" must be a number between 1 and 3600' --config "$T_DIR/bad2.json"
printf '{"host_name": "Big.Host"}' >"$T_DIR/bad3.json"
bad '"host_name" must be a host name' --config "$T_DIR/bad3.json"

# --- SQLite: one host, whatever its name ------------------------------------------------
SOLO=$T_DIR/solo-state SOLO_SOCK=$T_DIR/solo.sock
solo_start() {
	"$NUBOD" --state-dir "$SOLO" --socket "$SOLO_SOCK" --dry-run --host-name "$1" >>"$T_DIR/solo.log" 2>&1 &
	SOLO_PID=$!
	wait_for 10 curl -sf --unix-socket "$SOLO_SOCK" http://nubo/v1/types -o /dev/null
}
solo() { NUBO_SOCKET=$SOLO_SOCK "$NUBO" "$@"; }
t_on_exit 'kill -9 "${SOLO_PID:-}" 2>/dev/null; "$NUBOD" --state-dir "$SOLO" --socket "$SOLO_SOCK" --dry-run --destroy >>"$T_DIR/solo.log" 2>&1'
solo_start one
ok $? "a nubod on SQLite starts as host one"
solo image build tiny --wait >/dev/null 2>&1 && solo vm create w1 --type nano >/dev/null 2>&1
ok $? "it takes a VM"
is "$(solo vm show w1 --json | jq -r .host)" one "the VM is on host one"
kill "$SOLO_PID"; wait "$SOLO_PID" 2>/dev/null
solo_start two
ok $? "the same state starts again under another name"
is "$(solo host list --json | jq -r '[.hosts[].name] | join(",")')" two "an SQLite store has one host: the renamed one"
is "$(solo vm show w1 --json | jq -r .host)" two "its VMs follow the host's new name"
kill "$SOLO_PID"; wait "$SOLO_PID" 2>/dev/null; SOLO_PID=
