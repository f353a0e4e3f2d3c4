#!/usr/bin/env bash
# cluster: a load balancer across hosts (docs/load-balancers.md), three
# hosts in network namespaces (tests/cluster-lib.sh) with real VMs: targets
# t1 on h1 and t2 on h2 serve their names (busybox httpd from their
# user-data), the client c is on h3, whose ruleset DNATs its connections:
#
#   requests from c through the VIP reach both remote targets → t2's server
#   stopped, h2's checker marks it unhealthy and h3 takes it out of the
#   rotation (every request answered by t1) until it is back → the target
#   holding a long-lived connection from c is removed with a drain of 10s:
#   no new connection reaches it, the open one lives on, and at the
#   deadline it is cut on h3 (its conntrack entry gone, no more lines) →
#   deleting the balancer cuts an open connection on h3 the same way →
#   a host-port listener: each host gives its port's connections to the
#   targets on it only (one on h3 takes none).
#
# Kept short (three nano VMs under TCG, 1 s checks): the API's side of
# draining and deleting is in tests/api/lb-drain.sh and lb-delete.sh.
set -u
. "$(dirname "$0")/../cluster-lib.sh"
start_s=$SECONDS

cl_setup
ok $? "three host namespaces on one underlay bridge ($CL_NET.0/24)" || exit 1
cl_start_all
ok $? "three nubods start, one per namespace, on one database" || exit 1
cl_image_tiny
ok $? "tiny is built on h1 and its files are on h2 and h3"

n=$((RANDOM % 200 + 20))
CIDR=10.$n.5.0/24
out=$(cnubo h1 network create lbn --cidr "$CIDR" 2>&1) && out=$(cnubo h1 firewall create web 2>&1) &&
	out=$(cnubo h1 firewall rule add web --proto tcp --port 22 --from 0.0.0.0/0 2>&1) &&
	out=$(cnubo h1 firewall rule add web --proto tcp --port 80 --from "$CIDR" 2>&1)
ok $? "network lbn ($CIDR), firewall web allowing SSH and HTTP from the network" "$out"

# Each target serves its name, and /cgi-bin/tick its name once a second
# for as long as the client stays.
cat >"$T_DIR/ud.sh" <<'EOF'
#!/bin/sh
mkdir -p /tmp/www/cgi-bin && hostname > /tmp/www/index.html
printf '#!/bin/sh\necho Content-Type: text/plain\necho\nwhile hostname; do sleep 1; done\n' > /tmp/www/cgi-bin/tick
chmod 755 /tmp/www/cgi-bin/tick
setsid busybox httpd -f -p 80 -h /tmp/www </dev/null >/dev/null 2>&1 &
echo $! > /tmp/httpd.pid
EOF
cl_vm h1 t1 --host h1 --network lbn --firewall web --user-data "$T_DIR/ud.sh" >"$T_DIR/t1.out" &
p1=$!
cl_vm h2 t2 --host h2 --network lbn --firewall web --user-data "$T_DIR/ud.sh" >"$T_DIR/t2.out" &
p2=$!
cl_vm h3 c --host h3 --network lbn >"$T_DIR/c.out" &
p3=$!
wait $p1 && wait $p2 && wait $p3
ok $? "t1 on h1, t2 on h2 (targets) and c on h3 (client) run" "$(cat "$T_DIR"/t1.out "$T_DIR"/t2.out "$T_DIR"/c.out)"

out=$(cnubo h1 lb create web --network lbn --listen 80 --targets t1,t2 --check http:/ --interval 1s --timeout 500ms \
	--rise 1 --fall 2 --drain 10s 2>&1)
ok $? "lb web over t1 and t2 (drain 10s)" "$out"
VIP=$(cnubo h1 lb show web --json | jq -r .vip)
health() { cnubo "${2:-h3}" lb show web --json | jq -r "[.targets[] | select(.vm==\"$1\") | .health] | join(\"\")"; }
healthy() { [ "$(health t1)$(health t2)" = healthyhealthy ]; }
wait_for 120 healthy
ok $? "both targets become healthy, each checked by its own host" "$(cnubo h3 lb show web 2>&1)"

# served N: the names that answered N requests from c through the VIP, counted: "t1=5 t2=7"
served() {
	cl_on c "for i in \$(seq 1 $1); do timeout 3 wget -q -O - http://$VIP/ 2>/dev/null || echo none; done" |
		sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' '
}
out=$(served 12)
like "$out" '^t1=[0-9]+ t2=[0-9]+$' "12 requests from c (h3) all answered, by both remote targets ($out)"

# --- a target's server stops: out of the rotation on the client's host ------------------------
cl_on t2 'kill $(cat /tmp/httpd.pid)'
t2_down() { [ "$(health t2)" = unhealthy ]; }
wait_for 30 t2_down
ok $? "t2's server stopped: h2's checker marks it unhealthy"
sleep 1   # h3's ruleset follows the health within a tick
out=$(served 8)
is "$out" "t1=8" "8 requests from c all answered, by t1 only"
cl_on t2 'setsid busybox httpd -f -p 80 -h /tmp/www </dev/null >/dev/null 2>&1 & echo $! > /tmp/httpd.pid'
wait_for 30 healthy
ok $? "t2 is healthy again once its server is back"
sleep 1

# --- drain: the open connection is cut on the client's host at the deadline ------------------------
# tick: a connection from c through the VIP, its lines in c:/tmp/tick
tick() {
	cl_on c "rm -f /tmp/tick; setsid sh -c '(printf \"GET /cgi-bin/tick HTTP/1.0\\r\\n\\r\\n\"; sleep 300) | nc $VIP 80 >/tmp/tick' </dev/null >/dev/null 2>&1 &"
}
lines() { cl_on c 'cat /tmp/tick 2>/dev/null | grep -c "^t[12]"'; }
vip_entries() { cin "$1" conntrack -L -p tcp --orig-dst "$VIP" 2>/dev/null | grep -c ESTABLISHED; }
tick
wait_for 20 sh -c "[ \"\$(NUBO_SOCKET='${CL_SOCK[h3]}' ip netns exec '${CL_NS[h3]}' '$NUBO' vm ssh c -- 'grep -c ^t /tmp/tick' 2>/dev/null)\" -ge 2 ]"
ok $? "c holds a connection through the VIP that gets a line a second"
held=$(cl_on c 'grep "^t[12]" /tmp/tick | tail -1')
like "$held" '^t[12]$' "held by $held"
other=t1; [ "$held" = t1 ] && other=t2
is "$(vip_entries h3)" 1 "h3, the client's host, tracks it (orig-dst $VIP)"
out=$(cnubo h1 lb target remove web "$held" 2>&1)
ok $? "$held is removed through h1 (drain 10s)" "$out"
removed_at=$SECONDS
n1=$(lines)
sleep 2
n2=$(lines)
[ "$n2" -gt "$n1" ] && [ $((SECONDS - removed_at)) -lt 10 ]
ok $? "the open connection lives on during the drain ($n1 → $n2 lines, $((SECONDS - removed_at)) s in)"
is "$(served 8)" "$other=8" "no new connection reaches $held: 8 answered by $other"
no_entry() { [ "$(vip_entries h3)" = 0 ]; }
wait_for 30 no_entry
ok $? "at the deadline h3 cuts it: its conntrack entry is gone ($((SECONDS - removed_at)) s after the removal)"
[ $((SECONDS - removed_at)) -ge 9 ]
ok $? "not before the drain time"
sleep 2
n3=$(lines)
sleep 3
is "$(lines)" "$n3" "and no line came in 3 s ($n3 lines in all)"
target_gone() { ! cnubo h2 lb show web --json | jq -e --arg vm "$held" '.targets[] | select(.vm == $vm)' >/dev/null; }
wait_for 20 target_gone
ok $? "the target is gone"

# --- delete: an open connection is cut on the client's host ----------------------------------------
tick
wait_for 20 sh -c "[ \"\$(NUBO_SOCKET='${CL_SOCK[h3]}' ip netns exec '${CL_NS[h3]}' '$NUBO' vm ssh c -- 'grep -c ^t /tmp/tick' 2>/dev/null)\" -ge 2 ]"
ok $? "c holds a new connection through the VIP, to $other"
is "$(vip_entries h3)" 1 "h3 tracks it"
out=$(cnubo h2 lb delete web --wait 2>&1)
ok $? "lb web is deleted through h2 (--wait)" "$out"
is "$(vip_entries h3)" 0 "h3 cut the connection made through it"
n1=$(lines)
sleep 3
is "$(lines)" "$n1" "no line came in 3 s ($n1 lines in all)"
is "$(status_of "$(capi h3 GET /v1/lbs/web)")" 404 "and every host's API says it is gone"

# --- a host port: each host sends its clients to its own targets ------------------------------------
# (a target on another host would answer from there, where the client is not)
HP=$((30000 + RANDOM % 20000))
out=$(cnubo h1 firewall rule add web --proto tcp --port 80 --from "$CL_NET.0/24" 2>&1) &&
	out=$(cnubo h1 lb create www --network lbn --listen "$HP:80" --host-port --targets t1,t2 --check http:/ \
		--interval 1s --timeout 500ms --rise 1 2>&1)
ok $? "lb www on host port $HP over t1 and t2 (web allows HTTP from the underlay)" "$out"
www_healthy() { cnubo h3 lb show www --json | jq -e '[.targets[].health] == ["healthy","healthy"]' >/dev/null; }
wait_for 30 www_healthy
ok $? "both are healthy"
sleep 1
from_uplink() { for i in 1 2 3 4; do curl -s -m 3 "http://${CL_ADDR[$1]}:$HP/" || echo none; done | sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' '; }
is "$(from_uplink h1)" "t1=4" "4 requests from the uplink to h1's address: all answered, by t1 (on h1)"
is "$(from_uplink h2)" "t2=4" "to h2's: all by t2"
is "$(from_uplink h3)" "none=4" "h3 has no target of it: its port takes no connection"

echo "# cluster/lb.sh took $((SECONDS - start_s)) s"
