#!/usr/bin/env bash
# API tests: draining and host-port listeners of load balancers, against a
# real nubod and store, host layer in dry-run (the dry-run log holds every
# ruleset and every `conntrack -D` nubod would have run).
#
#   drain: a removed target leaves the rotation at once and is listed as
#   draining until its deadline, then its connections are cut (conntrack -D
#   for the VIP and its address) and it is gone, with events for both; a
#   restart in the middle still cuts; drain 0 cuts at once; a target added
#   back while draining is active again; a VM's delete waits for its drain.
#
#   host ports: the ruleset spreads the host's own addresses on the port;
#   a port forwarded to a VM, another balancer's host port, or a port a
#   program of the host listens on is refused with a 409 naming it, and a
#   forward of a balancer's host port is refused too.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

NET=10.244.$(($$ % 200 + 20))
HP=$((21000 + $$ % 9000))   # host ports: HP, HP+1, HP+2 (none is listened on below but HP+2)
nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
err_of() { body_of "$1" | jq -r .error.message; }
last_ruleset() { awk '/^nft -f -$/{getline; if ($0 ~ /^<<<# Written by nubo/) {buf=""; grab=1}} grab{buf=buf $0 "\n"} /^>>>$/{if (grab) last=buf; grab=0} END{printf "%s", last}' "$T_STATE/dry-run.log" 2>/dev/null; }
lb_rules() { last_ruleset | grep -E 'ct state new dnat' || true; }
target() { body_of "$(api GET /v1/lbs/dr)" | jq -r --arg vm "$1" ".targets[] | select(.vm==\$vm) | .$2"; }
targets() { body_of "$(api GET /v1/lbs/dr)" | jq -r '[.targets[].vm] | join(",")'; }
cuts() { grep -c "^conntrack -D -p tcp --orig-dst $VIP --reply-src $1\$" "$T_STATE/dry-run.log" 2>/dev/null; }
running() { curl -s --unix-socket "$T_SOCK" http://nubo/v1/vms | jq -e "[.vms[] | select(.state==\"running\")] | length == $1" >/dev/null; }

r=$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')
wait_for 10 op_ended "$(body_of "$r" | jq -r .operation.id)"
is "$(status_of "$(api POST /v1/networks "{\"name\":\"dnet\",\"cidr\":\"$NET.0/28\"}")")" 201 "a network ($NET.0/28)"
for vm in d1 d2 d3; do
	api POST /v1/vms "{\"name\":\"$vm\",\"nics\":[{\"network\":\"dnet\"}]}" >/dev/null
done
wait_for 10 running 3
ok $? "three VMs run (dry-run)"
ip1=$(body_of "$(api GET /v1/vms/d1)" | jq -r .ip)
ip2=$(body_of "$(api GET /v1/vms/d2)" | jq -r .ip)
ip3=$(body_of "$(api GET /v1/vms/d3)" | jq -r .ip)

# --- the drain time -------------------------------------------------------------------
base='"name":"dr","network":"dnet","listen":["80"]'
r=$(api POST /v1/lbs "{$base,\"drain\":\"x\"}")
is "$(status_of "$r")" 400 "a drain that is not a duration is 400"
like "$(err_of "$r")" 'drain "x" is not a duration' "naming the field and value"
r=$(api POST /v1/lbs "{$base,\"drain\":\"2h\"}")
like "$(status_of "$r") $(err_of "$r")" '^400 drain "2h" is out of range: 0(ms|s)? to 1h' "a drain over 1h is 400"
r=$(api POST /v1/lbs "{$base,\"host_port\":\"yes\"}")
like "$(status_of "$r") $(err_of "$r")" '^400 .*host_port' "host_port that is not a boolean is 400"
r=$(api POST /v1/lbs "{$base}")
is "$(body_of "$r" | jq -c '[.drain_ms, .host_port]')" "[30000,false]" "the default drain is 30 s, and no host port"
api DELETE /v1/lbs/dr >/dev/null
r=$(api POST /v1/lbs "{$base,\"targets\":[\"d1\",\"d2\",\"d3\"],\"interval\":\"200ms\",\"timeout\":\"100ms\",\"rise\":1,\"drain\":\"3s\"}")
is "$(status_of "$r")" 201 "balancer dr over d1-d3 with a drain of 3s"
is "$(body_of "$r" | jq -r .drain_ms)" 3000 "drain_ms is 3000"
is "$(body_of "$r" | jq -r '[.targets[].state] | join(",")')" "active,active,active" "its targets are active"
VIP=$(body_of "$r" | jq -r .vip)
in_rules() { lb_rules | grep -q "$1"; }
all_healthy() { [ "$(body_of "$(api GET /v1/lbs/dr)" | jq -r '[.targets[].health] | join(",")')" = healthy,healthy,healthy ]; }
wait_for 10 all_healthy && wait_for 10 in_rules "ip daddr $VIP tcp dport 80 ct state new dnat ip to numgen inc mod 3 map"
ok $? "all three are healthy and in the rotation"

# --- a removed target drains --------------------------------------------------------------
is "$(status_of "$(api DELETE /v1/lbs/dr/targets/d1)")" 204 "d1 is removed"
is "$(target d1 state)" draining "d1 is still listed, draining"
like "$(target d1 drain_until)" '^20[0-9-]+T' "with when its connections are cut"
like "$(lb_rules)" "mod 2 map \\{ 0 : $ip2 \\. 80, 1 : $ip3 \\. 80 \\}" "and the ruleset no longer sends new connections to it"
like "$("$NUBO" lb show dr)" 'd1 +- +draining \([0-9]+s left\) +healthy' "nubo lb show says it drains and for how long"
is "$(status_of "$(api DELETE /v1/lbs/dr/targets/d1)")" 404 "removing it again is 404"
is "$(cuts "$ip1")" 0 "its connections are not cut yet"
like "$(body_of "$(api GET '/v1/events?name=dr/d1')" | jq -r '.events[].what')" 'state: active→draining' \
	"the drain is an event"
drained() { [ "$(cuts "$1")" -ge "${2:-1}" ] && ! targets | grep -q "$3"; }
wait_for 10 drained "$ip1" 1 d1
ok $? "after the drain time its connections are cut (conntrack -D for $VIP and $ip1) and it is gone"
like "$(body_of "$(api GET '/v1/events?name=dr/d1')" | jq -r '.events[].what')" 'deleted' "with an event"

# --- back while draining ------------------------------------------------------------------------
is "$(status_of "$(api DELETE /v1/lbs/dr/targets/d2)")" 204 "d2 is removed"
is "$(status_of "$(api POST /v1/lbs/dr/targets '{"target":"d2"}')")" 201 "and added again while it drains"
is "$(target d2 state)" active "it is active again"
sleep 4
is "$(targets)" "d2,d3" "and stays after the drain time"
is "$(cuts "$ip2")" 0 "with its connections"

# --- drain 0: cut at once -------------------------------------------------------------------------
r=$(api PATCH /v1/lbs/dr '{"drain":"soon"}')
like "$(status_of "$r") $(err_of "$r")" '^400 drain "soon" is not a duration' "PATCH with a bad drain is 400"
like "$(status_of "$(api PATCH /v1/lbs/dr '{}')")" '^400' "PATCH without drain is 400"
is "$(status_of "$(api PATCH /v1/lbs/nope '{"drain":"0"}')")" 404 "PATCH of an unknown balancer is 404"
out=$("$NUBO" lb set dr --drain 0 2>&1)
like "$out" 'cut at once' "nubo lb set dr --drain 0"
is "$(body_of "$(api GET /v1/lbs/dr)" | jq -r .drain_ms)" 0 "drain_ms is 0"
"$NUBO" lb target remove dr d3 >/dev/null
wait_for 3 drained "$ip3" 1 d3
ok $? "a target removed then is cut and gone at once"

# --- a restart in the middle of a drain ----------------------------------------------------------------
api PATCH /v1/lbs/dr '{"drain":"4s"}' >/dev/null
api POST /v1/lbs/dr/targets '{"target":"d1"}' >/dev/null
is "$(status_of "$(api DELETE /v1/lbs/dr/targets/d1)")" 204 "d1 is added and removed (a drain of 4s)"
nubod_stop
ok $? "nubod stops while d1 drains"
is "$(t_sql "SELECT state FROM lb_targets WHERE vm_name = 'd1'")" draining "the store holds the drain"
nubod_start --dry-run || { ok 1 "nubod starts again"; exit 1; }
wait_for 15 drained "$ip1" 2 d1
ok $? "a restarted nubod cuts d1's connections when its drain is over, and it is gone"

# --- a VM's delete waits for its drain ---------------------------------------------------------------------
is "$(status_of "$(api DELETE /v1/vms/d2)")" 202 "VM d2, a target, is deleted (drain 4s)"
draining2() { [ "$(target d2 state)" = draining ]; }
wait_for 5 draining2
ok $? "its target drains first"
is "$(body_of "$(api GET /v1/vms/d2)" | jq -r .state)" shutting-down "while the VM is still there, shutting down"
vm_gone() { [ "$(status_of "$(api GET /v1/vms/d2)")" = 404 ]; }
wait_for 15 vm_gone
ok $? "the VM is gone after the drain"
is "$(cuts "$ip2")|$(targets)" "1|" "its connections were cut and its target is gone"

# --- host-port listeners -----------------------------------------------------------------------------------
r=$(api POST /v1/lbs "{\"name\":\"hp\",\"network\":\"dnet\",\"listen\":[\"$HP:80\"],\"host_port\":true,\"targets\":[\"d3\"],\"rise\":1,\"interval\":\"200ms\",\"timeout\":\"100ms\"}")
is "$(status_of "$r")" 201 "balancer hp listens on host port $HP"
is "$(body_of "$r" | jq -r .host_port)" true "host_port is true"
wait_for 10 in_rules "fib daddr type local tcp dport $HP ct state new dnat ip to numgen inc mod 1 map { 0 : $ip3 . 80 }"
ok $? "the ruleset spreads the host's own addresses on port $HP over its targets"
like "$(lb_rules)" "ip daddr [0-9.]+ tcp dport $HP ct state new dnat" "and its VIP too"
like "$(last_ruleset | tr -d '\n\t' | grep -o 'set lb_host_ports {[^}]*}')" "elements = \\{ $HP \\}" "its port is in lb_host_ports"
like "$("$NUBO" lb show hp)" "Listen: +$HP:80 \\(and on the host's own addresses\\)" "nubo lb show says so"
r=$(api POST /v1/lbs "{\"name\":\"hp2\",\"network\":\"dnet\",\"listen\":[\"$HP\"],\"host_port\":true}")
is "$(status_of "$r")" 409 "another balancer on host port $HP is 409"
like "$(err_of "$r")" "listen\\[0\\] \"$HP\": host port $HP is taken by load balancer hp" "naming the port and its holder"
r=$(api POST /v1/vms/d1/forwards "{\"ports\":\"$HP:22\"}")
is "$(status_of "$r")" 409 "a port forward of host port $HP is 409"
like "$(err_of "$r")" "host port $HP is taken by load balancer hp" "naming the balancer"
is "$(status_of "$(api POST /v1/vms/d1/forwards "{\"ports\":\"$((HP + 1)):22\"}")")" 201 "d1 forwards host port $((HP + 1))"
r=$(api POST /v1/lbs "{\"name\":\"hp2\",\"network\":\"dnet\",\"listen\":[\"80\",\"$((HP + 1))\"],\"host_port\":true}")
is "$(status_of "$r")" 409 "a balancer on a forwarded host port is 409"
like "$(err_of "$r")" "listen\\[1\\] \"$((HP + 1))\": host port $((HP + 1)) is taken by a port forward to VM d1" \
	"naming the listener, the port and the VM"
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$((HP + 2))" &
holder=$!
t_on_exit "kill $holder 2>/dev/null"
wait_for 10 sh -c "ss -Hltn 'sport = :$((HP + 2))' | grep -q ."   # python's start takes long on a loaded host
r=$(api POST /v1/lbs "{\"name\":\"hp2\",\"network\":\"dnet\",\"listen\":[\"$((HP + 2))\"],\"host_port\":true}")
is "$(status_of "$r")" 409 "a balancer on a port a program of the host listens on is 409"
like "$(err_of "$r")" "host port $((HP + 2))/tcp is in use by a program on the host" "naming the port"
kill "$holder" 2>/dev/null
is "$(status_of "$(api POST /v1/lbs "{\"name\":\"hp2\",\"network\":\"dnet\",\"listen\":[\"$((HP + 1))\"]}")")" 201 \
	"without host_port, the same port on a VIP is fine"
is "$(body_of "$(api GET /v1/lbs)" | jq -r '[.lbs[].name] | join(",")')" "dr,hp,hp2" "refused balancers left nothing behind"

nubod_stop
ok $? "nubod exits cleanly"
echo "1..$T_N"
