#!/usr/bin/env bash
# e2e: a load balancer over three real VMs, each answering HTTP with its
# own name (busybox httpd, started over nubo vm ssh).
#
#   the targets' firewalls apply to the balancer's traffic (no rule for
#   port 80: nothing gets through, even failing open); 300 requests from the
#   host through the VIP spread within ±20 %; a target whose server is
#   stopped leaves the rotation within fall × interval (and a margin for a
#   loaded host) with no failed request after that, and comes back when its
#   server is restarted; a client VM on the same network reaches every
#   target through the VIP (hairpin), with whatever
#   net.bridge.bridge-nf-call-iptables the host has (tests/e2e/hairpin.sh
#   covers both values in namespaces of its own); a long-lived connection
#   (a CGI that writes a line a second) to a target that is removed lives on
#   through the drain time while no new connection reaches that target, and
#   is cut after it; a balancer with a host-port listener answers on the
#   host's own address; deleting the balancer cuts a long-lived connection
#   made through its VIP. Traffic goes only to the VMs' private network
#   and the host.
set -u
. "$(dirname "$0")/../lib.sh"

nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
ssh-keygen -q -t ed25519 -N "" -C e2e -f "$T_DIR/id" || exit 1
on() { local vm=$1; shift; "$NUBO" vm ssh "$vm" -- "$@" 2>>"$T_DIR/ssh.err"; }
# answer VM CMD: CMD's output, tried up to three times while empty (a first
# connect on a loaded host can time out).
answer() { local out i; for i in 1 2 3; do out=$(on "$1" "$2"); [ -n "$out" ] && break; done; printf '%s' "$out"; }

out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
CIDR=$("$NUBO" network show default --json | jq -r .cidr)
"$NUBO" firewall create web >/dev/null && "$NUBO" firewall rule add web --proto tcp --port 22 >/dev/null
ok $? "firewall web allows SSH only, for now"
for vm in web1 web2 web3; do
	out=$("$NUBO" vm create "$vm" --type nano --ssh-key "$T_DIR/id.pub" --firewall web 2>&1)
	ok $? "$vm is created in firewall web" "$out"
done
out=$("$NUBO" vm create client --type nano --ssh-key "$T_DIR/id.pub" 2>&1)
ok $? "client is created on the same network" "$out"
for vm in web1 web2 web3 client; do
	wait_for 180 sh -c "[ \"\$($NUBO vm show $vm --json | jq -r '.boot_phases | map(.name) | index(\"ssh-ready\")')\" != null ]"
	ok $? "$vm answers SSH"
done
# In the foreground of a process of its own, so its pid is known: run as
# "busybox httpd" its name is busybox, which killall cannot tell apart.
# /cgi-bin/tick answers with the VM's name once a second until the client goes.
httpd_start() {
	on "$1" "mkdir -p /tmp/www/cgi-bin && echo $1 > /tmp/www/index.html &&
		printf '#!/bin/sh\necho Content-Type: text/plain\necho\nwhile echo $1; do sleep 1; done\n' >/tmp/www/cgi-bin/tick &&
		chmod 755 /tmp/www/cgi-bin/tick &&
		(setsid busybox httpd -f -p 80 -h /tmp/www </dev/null >/dev/null 2>&1 & echo \$! > /tmp/httpd.pid)"
}
httpd_stop() { on "$1" 'kill $(cat /tmp/httpd.pid)'; }
for vm in web1 web2 web3; do
	httpd_start "$vm"
	like "$(answer "$vm" "wget -qO- http://127.0.0.1/")" "^$vm\$" "$vm serves its name over HTTP"
done

out=$("$NUBO" lb create web --listen 80 --targets web1,web2,web3 --check http:/ --interval 1s --timeout 500ms \
	--rise 2 --fall 2 2>&1)
ok $? "nubo lb create web" "$out"
VIP=$("$NUBO" lb show web --json | jq -r .vip)
like "$VIP" "^${CIDR%.0/*}\." "its VIP is on the default network ($VIP)"
get() { curl -s --max-time 3 "http://$VIP/"; }

# --- firewalls apply ------------------------------------------------------------------
# No rule for port 80: the checks (from the gateway) fail, the balancer
# fails open, and still nothing reaches a target.
wait_for 30 sh -c "$NUBO lb show web --json | jq -e '.failing_open' >/dev/null"
ok $? "without a firewall rule for port 80 every target is unhealthy and the balancer fails open"
is "$(get)" "" "and a request through the VIP is dropped by the targets' firewall"
"$NUBO" firewall rule add web --proto tcp --port 80 --from "$CIDR" >/dev/null
ok $? "firewall web allows tcp 80 from the network ($CIDR)"
all_healthy() { "$NUBO" lb show web --json | jq -e '[.targets[].health] == ["healthy","healthy","healthy"]' >/dev/null; }
wait_for 60 all_healthy
ok $? "then all three targets become healthy"
like "$("$NUBO" lb show web)" 'web1 +- +active +healthy +[0-9]+ +[0-9]+[smh]? ago +HTTP 200' \
	"nubo lb show gives health, connections, since when and the last check"

# --- spread -----------------------------------------------------------------------------
spread() { # spread N: the names that answered N requests, counted; "none=K" for K failed
	local i
	for i in $(seq 1 "$1"); do get | grep . || echo none; done | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' '
}
counts=$(spread 300)
echo "# 300 requests: $counts"
failed=$((300 - $(printf '%s' "$counts" | tr ' ' '\n' | grep -E '^web[123]=' | cut -d= -f2 | paste -sd+ | bc)))
is "$failed" 0 "300 requests through the VIP all answered"
for vm in web1 web2 web3; do
	n=$(printf '%s' "$counts" | tr ' ' '\n' | sed -n "s/^$vm=//p")
	[ "${n:-0}" -ge 80 ] && [ "${n:-0}" -le 120 ]
	ok $? "$vm answered ${n:-0} of 300 (within 100 ± 20 %)"
done

# --- connections: six held open through the VIP are counted from conntrack ------------------
python3 -c 'import socket, sys, time
s = [socket.create_connection((sys.argv[1], 80), timeout=3) for _ in range(6)]
time.sleep(8)' "$VIP" &
holder=$!
t_on_exit "kill $holder 2>/dev/null"
held() { "$NUBO" lb show web --json | jq -e '[.targets[].connections] | add >= 6' >/dev/null; }
wait_for 6 held
ok $? "six connections held open through the VIP are counted ($("$NUBO" lb show web --json | jq -c '[.targets[].connections]'))"
wait "$holder"

# --- a target's server stops, then comes back -------------------------------------------------
httpd_stop web2
is "$(on web2 "wget -qO- http://127.0.0.1/ 2>/dev/null")" "" "web2's server is stopped"
web2_out() { "$NUBO" lb show web --json | jq -e '.targets[] | select(.vm=="web2") | .health == "unhealthy"' >/dev/null; }
start=$SECONDS
# fall × interval is 2 s; the margin is for a loaded host, not a timing check
wait_for 20 web2_out
ok $? "web2 leaves the rotation after its server stopped ($((SECONDS - start)) s; fall × interval = 2 s)"
like "$("$NUBO" lb show web --json | jq -r '.targets[] | select(.vm=="web2") | .reason')" 'refused' \
	"its last check says why"
sleep 1   # the ruleset follows the health within a reconciler tick
counts=$(spread 60)
echo "# 60 requests: $counts"
like "$counts" '^web1=[0-9]+ web3=[0-9]+ $' "60 requests after that all answered, by web1 and web3 only"
httpd_start web2
web2_in() { "$NUBO" lb show web --json | jq -e '.targets[] | select(.vm=="web2") | .health == "healthy"' >/dev/null; }
wait_for 30 web2_in
ok $? "web2 is healthy again once its server is back"
sleep 1
like "$(spread 30)" '^web1=[0-9]+ web2=[0-9]+ web3=[0-9]+ $' "and is back in the rotation"

# --- hairpin: a client on the same network -------------------------------------------------
# The reply comes back through the host, which gives it the VIP back; with
# br_netfilter on, the SYN is bridged from tap to tap after the DNAT
# (docs/load-balancers.md).
bnf=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo "off (br_netfilter not loaded)")
# busybox wget has no timeout of its own
out=$(for i in 1 2 3 4 5 6; do answer client "timeout 5 wget -qO- http://$VIP/"; echo; done | sort -u | tr '\n' ' ')
is "$out" "web1 web2 web3 " "a client VM on the same network reaches every target through the VIP (bridge-nf-call-iptables $bnf)"

# --- draining: a long-lived connection through the balancer ------------------------------------
out=$("$NUBO" lb set web --drain 12s 2>&1)
ok $? "nubo lb set web --drain 12s" "$out"
curl -sN --max-time 120 "http://$VIP/cgi-bin/tick" >"$T_DIR/tick.out" 2>/dev/null &
ticker=$!
t_on_exit "kill $ticker 2>/dev/null"
lines() { wc -l <"$T_DIR/tick.out"; }
wait_for 20 sh -c "[ \$(wc -l <$T_DIR/tick.out) -ge 2 ]"
ok $? "a long-lived connection through the VIP gets a line a second" "$(cat "$T_DIR/tick.out")"
held_by=$(head -1 "$T_DIR/tick.out")
like "$held_by" '^web[123]$' "it is held by $held_by"
out=$("$NUBO" lb target remove web "$held_by" 2>&1)
ok $? "nubo lb target remove web $held_by" "$out"
removed_at=$SECONDS
like "$("$NUBO" lb show web)" "$held_by +- +draining \([0-9]+s left\)" "nubo lb show: $held_by drains"
n1=$(lines)
sleep 1
like "$(spread 30)" "^(web[123]=[0-9]+ ){2}\$" "30 new connections all answered, by the other two only"
! spread 30 | grep -q "$held_by="
ok $? "no new connection reaches the draining target"
sleep 3
n2=$(lines)
[ "$n2" -gt "$n1" ] && [ $((SECONDS - removed_at)) -lt 12 ]
ok $? "the open connection lives on during the drain ($n1 → $n2 lines, $((SECONDS - removed_at)) s in)"
target_gone() { ! "$NUBO" lb show web --json | jq -e --arg vm "$held_by" '.targets[] | select(.vm == $vm)' >/dev/null; }
wait_for 30 target_gone
ok $? "after the drain time ($((SECONDS - removed_at)) s; drain 12 s) the target is gone"
sleep 2
n3=$(lines)
sleep 4
n4=$(lines)
is "$n4" "$n3" "and its connection was cut: no line came in 4 s ($n3 lines in all)"
kill "$ticker" 2>/dev/null
"$NUBO" lb target add web "$held_by" >/dev/null
ok $? "$held_by is added back"

# --- a host-port listener ------------------------------------------------------------------------
HOST_IP=$(hostname -I | awk '{print $1}')
HPORT=$((30000 + $$ % 20000))
"$NUBO" firewall rule add web --proto tcp --port 80 >/dev/null
ok $? "firewall web allows tcp 80 from anywhere (a host port's clients are anyone)"
out=$("$NUBO" lb create www --listen "$HPORT:80" --host-port --targets web1,web2,web3 --check http:/ --interval 1s \
	--timeout 500ms --rise 1 2>&1)
ok $? "nubo lb create www --listen $HPORT:80 --host-port" "$out"
www_healthy() { "$NUBO" lb show www --json | jq -e '[.targets[].health] == ["healthy","healthy","healthy"]' >/dev/null; }
wait_for 30 www_healthy
ok $? "its targets become healthy"
sleep 1
out=$(for i in 1 2 3 4 5 6; do curl -s --max-time 3 "http://$HOST_IP:$HPORT/"; done | sort -u | tr '\n' ' ')
is "$out" "web1 web2 web3 " "the host's own address $HOST_IP:$HPORT reaches every target"
"$NUBO" lb delete www >/dev/null
is "$(curl -s --max-time 3 "http://$HOST_IP:$HPORT/")" "" "and answers no more once the balancer is deleted"

# --- delete: the connections made through it are cut ----------------------------------------
curl -sN --max-time 120 "http://$VIP/cgi-bin/tick" >"$T_DIR/tick2.out" 2>/dev/null &
ticker=$!
t_on_exit "kill $ticker 2>/dev/null"
wait_for 20 sh -c "[ \$(wc -l <$T_DIR/tick2.out) -ge 2 ]"
ok $? "a long-lived connection through the VIP gets a line a second" "$(cat "$T_DIR/tick2.out")"
"$NUBO" lb delete web >/dev/null
ok $? "nubo lb delete web"
lb_gone() { ! "$NUBO" lb show web >/dev/null 2>&1; }
wait_for 30 lb_gone
ok $? "the balancer is gone"
sleep 2
n1=$(wc -l <"$T_DIR/tick2.out")
sleep 4
n2=$(wc -l <"$T_DIR/tick2.out")
is "$n2" "$n1" "and the connection made through it was cut: no line came in 4 s ($n1 lines in all)"
kill "$ticker" 2>/dev/null
is "$(get)" "" "the VIP answers no more"

nubod_stop
ok $? "nubod exits cleanly"
echo "1..$T_N"
