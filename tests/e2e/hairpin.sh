#!/usr/bin/env bash
# e2e (root, no QEMU): hairpin DNAT on nubo's own ruleset, with br_netfilter
# off and on (net.bridge.bridge-nf-call-iptables 0 and 1), each in a network
# namespace of its own, so the host's value is never touched.
#
# A dry-run nubod makes a network, a client VM and two targets, a balancer
# over them and a port forward; its dry-run log holds every command it would
# have run. Per value of the sysctl, a namespace plays the host: the log's
# bridge, tap, neighbour and sysctl commands are replayed in it (a tap
# becomes a veth whose other end is the VM, a namespace of its own with the
# VM's MAC and address), then nubod's last ruleset is applied with nft.
#
#   the client reaches both targets through the VIP, and one through the
#   port forward on the gateway, and both through a balancer's host port
#   on the gateway (and the host on 127.0.0.1); a target reaches its own balancer and gets
#   both targets, itself included; the host reaches the VIP; the targets'
#   firewalls still apply to the balancer's traffic (a listener on a port
#   they do not allow answers nothing); and the taps stay apart: a frame the
#   client sends straight to a target's MAC is dropped.
set -u
. "$(dirname "$0")/../lib.sh"
T_DESTROY_FLAGS=--dry-run

NS=nbhp$$   # the namespaces: ${NS}h0 (host, sysctl 0), ${NS}c0 (client) …
NET=10.243.$(($$ % 200 + 20))
FWD_PORT=$((20000 + $$ % 20000))
HOST_PORT=$((FWD_PORT + 1))   # a balancer's host-port listener
SYSCTL=net.bridge.bridge-nf-call-iptables
ns_all() { ip netns list | awk '{print $1}' | grep "^$NS" || true; }
t_on_exit 'for n in $(ns_all); do ip netns pids "$n" | xargs -r kill 2>/dev/null; ip netns del "$n"; done'

# Loading br_netfilter would turn it on for the whole host: without it, only
# the case without it runs.
HOST_VALUE=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)
VALUES="0 1"
[ -n "$HOST_VALUE" ] || VALUES=none

nubod_start --dry-run || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts in dry-run"
op=$(body_of "$(api POST /v1/images '{"name":"tiny","recipe":"tiny"}')" | jq -r .operation.id)
wait_for 10 op_ended "$op"
is "$(status_of "$(api POST /v1/networks "{\"name\":\"hp\",\"cidr\":\"$NET.0/24\"}")")" 201 "network hp ($NET.0/24)"
api POST /v1/firewalls '{"name":"web"}' >/dev/null
is "$(status_of "$(api POST /v1/firewalls/web/rules "{\"proto\":\"tcp\",\"port\":80,\"from\":\"$NET.0/24\"}")")" 201 \
	"firewall web allows tcp 80 from the network, and nothing else"
for vm in client web1 web2; do
	fw=web; [ $vm = client ] && fw=default
	api POST /v1/vms "{\"name\":\"$vm\",\"nics\":[{\"network\":\"hp\"}],\"firewalls\":[\"$fw\"]}" >/dev/null
done
wait_for 10 sh -c "curl -s --unix-socket $T_SOCK http://nubo/v1/vms | jq -e '[.vms[] | select(.state==\"running\")] | length == 3' >/dev/null"
ok $? "client, web1 and web2 run (dry-run)"
r=$(api POST /v1/lbs '{"name":"web","network":"hp","listen":["80","81"],"targets":["web1","web2"],"interval":"1s","timeout":"500ms","rise":1}')
is "$(status_of "$r")" 201 "balancer web listens on 80 and 81 over web1 and web2"
VIP=$(body_of "$r" | jq -r .vip)
is "$(status_of "$(api POST /v1/vms/web1/forwards "{\"ports\":\"$FWD_PORT:80\"}")")" 201 "web1 forwards host port $FWD_PORT"
r=$(api POST /v1/lbs "{\"name\":\"hport\",\"network\":\"hp\",\"listen\":[\"$HOST_PORT:80\"],\"host_port\":true,\"targets\":[\"web1\",\"web2\"],\"interval\":\"1s\",\"timeout\":\"500ms\",\"rise\":1}")
is "$(status_of "$r")" 201 "balancer hport listens on host port $HOST_PORT over web1 and web2"
last_ruleset() { awk '/^nft -f -$/{getline; if ($0 ~ /^<<<# Written by nubo/) {buf=""; grab=1}} grab{buf=buf $0 "\n"} /^>>>$/{if (grab) last=buf; grab=0} END{printf "%s", last}' "$T_STATE/dry-run.log" 2>/dev/null; }
both_in() { last_ruleset | grep -q "ip daddr $VIP tcp dport 80 ct state new dnat ip to numgen inc mod 2 " &&
	last_ruleset | grep -q "fib daddr type local tcp dport $HOST_PORT ct state new dnat ip to numgen inc mod 2 "; }
wait_for 20 both_in
ok $? "the ruleset spreads $VIP:80 over both targets (dry-run checks pass)"
last_ruleset | sed -e '1s/^<<<//' -e '$d' >"$T_DIR/ruleset.nft"
vms=$(body_of "$(api GET /v1/vms)")
nubod_stop
ok $? "nubod stops; what it did is in its dry-run log"

# The VM whose tap this is: taps are nt<prefix><first 6 of the id> (ctl_tap_name).
vm_of_tap() { jq -r --arg t "$1" '.vms[] | select(.id[3:9] == ($t[6:12])) | .name' <<<"$vms"; }
vm_field() { jq -r --arg n "$1" ".vms[] | select(.name == \$n) | .$2" <<<"$vms"; }
GW=$NET.1

# build V: the host namespace ${NS}hV with $SYSCTL=V, nubod's bridge and
# taps in it, and a namespace per VM.
build() {
	local v=$1 h=${NS}h$1 line tap vm
	ip netns add "$h" && ip -n "$h" link set lo up || return 1
	[ "$v" = none ] || ip netns exec "$h" sysctl -qw "$SYSCTL=$v" || return 1
	while read -r line; do
		set -- $line
		case "$1 $2" in
		"ip tuntap") # ip tuntap add dev TAP mode tap
			tap=$5 vm=$(vm_of_tap "$5")
			[ -n "$vm" ] || { echo "# no VM for tap $tap"; return 1; }
			ip netns add "${NS}${vm:0:1}${vm: -1}$v" || return 1
			ip -n "$h" link add "$tap" type veth peer name eth0 netns "${NS}${vm:0:1}${vm: -1}$v" || return 1
			;;
		"ip link" | "ip addr" | "ip neigh")
			shift
			ip -n "$h" "$@" || return 1
			;;
		"write /proc/sys/net/"*)
			ip netns exec "$h" sh -c "echo $3 > $2" || return 1
			;;
		esac
	done < <(grep -E '^(ip (tuntap|link|addr|neigh) |write /proc/sys/net/)' "$T_STATE/dry-run.log" | grep -v ' del ')
	for vm in client web1 web2; do
		local n=${NS}${vm:0:1}${vm: -1}$v
		ip -n "$n" link set lo up &&
			ip -n "$n" link set eth0 address "$(vm_field $vm mac)" &&
			ip -n "$n" addr add "$(vm_field $vm ip)/24" dev eth0 &&
			ip -n "$n" link set eth0 up &&
			ip -n "$n" route add default via "$GW" || return 1
	done
	ip netns exec "$h" nft -f "$T_DIR/ruleset.nft" || return 1
	# Each target answers its name on 80 and 81 (81: its firewall denies it).
	for vm in web1 web2; do
		for port in 80 81; do
			ip netns exec "${NS}${vm:0:1}${vm: -1}$v" socat TCP-LISTEN:$port,fork,reuseaddr SYSTEM:"echo $vm" \
				>/dev/null 2>&1 &
			T_BG_PIDS+=($!)
		done
	done
	sleep 0.5
}
# in NS HOST PORT: what a connection from namespace NS to HOST:PORT reads
in_ns() { ip netns exec "$1" timeout 4 socat -T2 - "TCP:$2:$3,connect-timeout=2" </dev/null 2>/dev/null; }
# names V ADDR PORT [N]: the names that answered N (8) connections from the
# client, sorted, unique
names() { names_in "${NS}ct$1" "$2" "$3" "${4:-8}"; }
names_in() { for i in $(seq 1 "${4:-8}"); do in_ns "$1" "$2" "$3"; done | sort -u | tr '\n' ' '; }

for v in $VALUES; do
	build "$v"
	ok $? "sysctl $v: nubod's bridge, taps, neighbours and ruleset, replayed in namespace ${NS}h$v" || continue
	is "$(ip netns exec "${NS}h$v" sysctl -n $SYSCTL 2>/dev/null || echo none)" "$v" "sysctl $v: $SYSCTL is $v in the namespace"
	is "$(names "$v" "$VIP" 80)" "web1 web2 " "sysctl $v: the client reaches both targets through the VIP (hairpin)"
	is "$(names_in "${NS}w1$v" "$VIP" 80)" "web1 web2 " \
		"sysctl $v: a target reaches its own balancer, and itself through it (masqueraded to the gateway)"
	like "$(in_ns "${NS}h$v" "$VIP" 80)" '^web[12]$' "sysctl $v: the host reaches the VIP"
	is "$(names "$v" "$GW" "$FWD_PORT")" "web1 " "sysctl $v: the client reaches web1 through the port forward on the gateway"
	is "$(names "$v" "$GW" "$HOST_PORT")" "web1 web2 " "sysctl $v: the client reaches both targets through the host port of balancer hport"
	like "$(in_ns "${NS}h$v" 127.0.0.1 "$HOST_PORT")" '^web[12]$' "sysctl $v: the host reaches it on its own loopback"
	is "$(names "$v" "$VIP" 81 2)" "" "sysctl $v: the targets' firewalls still apply (81 is not allowed: no answer)"
	like "$(in_ns "${NS}ct$v" "$(vm_field web1 ip)" 80)" '^web1$' "sysctl $v: the client reaches web1 routed through the host"
	ip -n "${NS}ct$v" neigh replace "$(vm_field web1 ip)" lladdr "$(vm_field web1 mac)" dev eth0 nud permanent
	is "$(in_ns "${NS}ct$v" "$(vm_field web1 ip)" 80)" "" "sysctl $v: a frame straight to web1's MAC is dropped in the bridge"
done
if [ "$VALUES" = none ]; then
	T_N=$((T_N + 1))
	echo "ok $T_N - with br_netfilter on # SKIP br_netfilter is not loaded (loading it would turn it on for the host)"
else
	is "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)" "$HOST_VALUE" "the host's $SYSCTL is still $HOST_VALUE"
fi
