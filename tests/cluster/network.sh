#!/usr/bin/env bash
# cluster: networks across hosts (docs/cluster.md), three hosts in network
# namespaces (tests/cluster-lib.sh) with real VMs and packets:
#
#   each host's bridge of a network carries a vxlan device of the
#   network's VNI on its underlay address → the guests' MTU is 1450 →
#   a VM on h1 reaches a VM on h3 over TCP through the target's firewall
#   (a rule from the members of a firewall, a member on another host), a
#   VM not in that firewall does not, and a 300 KB answer crosses whole →
#   no reach from one network to another across hosts → NAT egress leaves
#   from the VM's own host → each host's dnsmasq holds only its own VMs →
#   metadata answers on every host → a VM made and deleted on h2 is in
#   h1's forwarding entries and gone from them, heard through the log →
#   a network deleted through one host is taken down on all three.
set -u
. "$(dirname "$0")/../cluster-lib.sh"

cl_setup
ok $? "three host namespaces on one underlay bridge ($CL_NET.0/24)" || exit 1
cl_start_all
ok $? "three nubods start, one per namespace, on one database" || exit 1
cl_image_tiny
ok $? "tiny is built on h1 and its files are on h2 and h3"

n=$((RANDOM % 200 + 20))
out=$(cnubo h1 network create blue --cidr "10.$n.1.0/24" 2>&1) && out=$(cnubo h2 network create red --cidr "10.$n.2.0/24" 2>&1)
ok $? "networks blue and red are created" "$out"
out=$(cnubo h3 firewall create app 2>&1) && out=$(cnubo h3 firewall create srv 2>&1) &&
	out=$(cnubo h3 firewall rule add srv --proto tcp --port 8080 --from-firewall app 2>&1) &&
	out=$(cnubo h3 firewall rule add srv --proto tcp --port 22 --from 0.0.0.0/0 2>&1) &&
	out=$(cnubo h1 firewall create open 2>&1) && out=$(cnubo h1 firewall rule add open --proto tcp --port 8080 --from 0.0.0.0/0 2>&1)
ok $? "firewall srv allows tcp 8080 from the members of app (and SSH); open from anywhere" "$out"

# v1 (h1, app) and v2 (h2) are clients of v3 (h3, srv only: the default
# firewall would let its members in); r2 (h2) is on red.
out=$(cl_vm h1 v1 --host h1 --network blue --firewall default,app) &&
	out=$(cl_vm h1 v2 --host h2 --network blue) &&
	out=$(cl_vm h2 v3 --host h3 --network blue --firewall srv) &&
	out=$(cl_vm h3 r2 --host h2 --network red --firewall default,open)
ok $? "v1, v2, v3 on blue (h1, h2, h3) and r2 on red (h2) run" "$out"
V1=$(cl_vm_field v1 ip) V2=$(cl_vm_field v2 ip) V3=$(cl_vm_field v3 ip) R2=$(cl_vm_field r2 ip)

vni() { cin "$1" ip -d -j link show type vxlan | jq -r ".[] | select(.linkinfo.info_data.id == $2) | .linkinfo.info_data | \"\(.id) \(.local) \(.port)\""; }
BLUE=$(body_of "$(capi h1 GET /v1/networks/blue)" | jq -r .id)
VNI=$(cin h1 ip -d -j link show type vxlan | jq -r '.[].linkinfo.info_data.id' | sort -n | head -1)
for h in h1 h2 h3; do
	is "$(vni "$h" "${VNI:-0}")" "$VNI ${CL_ADDR[$h]} 4789" "$h has blue's vxlan device: VNI $VNI on its underlay address, port 4789"
done
is "$(cin h2 ip -d -j link show type vxlan | jq -r '.[].linkinfo.info_data.id' | sort -u | wc -l)" 2 \
	"h2, with VMs on blue and red, has two vxlan devices of two VNIs"
is "$(cl_answer v1 'cat /sys/class/net/eth0/mtu')" 1450 "v1's MTU is 1450 (the underlay's less VXLAN's 50 bytes)"
is "$(cl_answer v2 'cat /sys/class/net/eth0/mtu')" 1450 "v2's too"

# Servers: busybox httpd on 8080 in v3 and r2, with a small and a 300 KB page.
serve='mkdir -p /tmp/w && hostname >/tmp/w/index.html && dd if=/dev/urandom of=/tmp/w/big bs=1k count=300 2>/dev/null &&
	md5sum /tmp/w/big | cut -d" " -f1 && (setsid busybox httpd -p 8080 -h /tmp/w </dev/null >/dev/null 2>&1 &)'
SUM3=$(cl_answer v3 "$serve")
SUM_R=$(cl_answer r2 "$serve")
[ -n "$SUM3" ] && [ -n "$SUM_R" ]
ok $? "v3 and r2 serve on tcp 8080"
fetch() { cl_on "$1" "timeout 10 wget -q -O - http://$2:8080/$3 2>/dev/null | ${4:-cat}"; }

is "$(fetch v1 "$V3" "")" v3 \
	"v1 on h1 reaches v3 on h3 over TCP (v1 is in app, which srv allows)"
is "$(fetch v1 "$V3" big 'md5sum' | cut -d' ' -f1)" "$SUM3" "a 300 KB answer from v3 reaches v1 whole"
is "$(fetch v2 "$V3" "")" "" "v2 on h2 (not in app) does not reach v3"
out=$(cnubo h2 vm set-firewall v2 default,app 2>&1)
ok $? "v2 joins app (through h2's API)" "$out"
wait_for 20 sh -c "[ \"\$(NUBO_SOCKET='${CL_SOCK[h2]}' ip netns exec '${CL_NS[h2]}' '$NUBO' vm ssh v2 -- 'timeout 5 wget -q -O - http://$V3:8080/' 2>/dev/null)\" = v3 ]"
ok $? "then v2 reaches v3: h3 put v2's address in app's set"
is "$(cin h2 curl -s -m 5 "http://$R2:8080/")" r2 "r2 answers its own host on 8080 (its firewall open allows anyone)"
is "$(fetch v1 "$R2" "")" "" "v1 (blue, h1) does not reach r2 (red, h2)"
is "$(fetch v3 "$R2" "")" "" "nor does v3 (blue, h3)"

# NAT: the uplink (the root namespace's bridge) sees a VM's connection come
# from its own host's address.
port=$((30000 + RANDOM % 20000))
socat "TCP-LISTEN:$port,bind=$CL_NET.1,fork,reuseaddr" SYSTEM:'echo $SOCAT_PEERADDR' 2>/dev/null &
T_BG_PIDS+=($!)
sleep 0.5
is "$(cl_answer v3 "timeout 10 nc $CL_NET.1 $port </dev/null")" "${CL_ADDR[h3]}" "v3's traffic to the uplink leaves from h3"
is "$(cl_answer v1 "timeout 10 nc $CL_NET.1 $port </dev/null")" "${CL_ADDR[h1]}" "v1's from h1"

# DHCP and metadata are each host's own.
MAC1=$(body_of "$(capi h1 GET /v1/vms/v1)" | jq -r .mac) MAC3=$(body_of "$(capi h1 GET /v1/vms/v3)" | jq -r .mac)
h1hosts=$(cat "${CL_STATE[h1]}/networks/$BLUE/hosts" 2>/dev/null)
like "$h1hosts" "$MAC1" "h1's dnsmasq has v1's reservation"
printf '%s' "$h1hosts" | grep -qi "$MAC3"
is $? 1 "and not v3's (h3's dnsmasq answers v3)"
TOKEN_CMD="printf 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n' | timeout 15 nc 169.254.169.254 80 | tail -n 1"
for v in v1 v3; do
	tok=$(cl_answer "$v" "$TOKEN_CMD")
	is "$(cl_on "$v" "wget -q -O - --header 'X-aws-ec2-metadata-token: $tok' http://169.254.169.254/latest/meta-data/instance-id")" \
		"$(cl_vm_field "$v" id)" "the metadata service answers $v on $(cl_vm_field "$v" host)"
done

# A VM made on h2 is in h1's entries, and gone from them once deleted.
bridge1=$(cin h1 ip -d -j link show type vxlan | jq -r ".[] | select(.linkinfo.info_data.id == $VNI) | .master")
cin h1 ip -j neigh show dev "$bridge1" | jq -e --arg ip "$V3" '.[] | select(.dst == $ip and .lladdr != null)' >/dev/null
ok $? "h1 has a neighbour entry for v3's address on blue's bridge $bridge1"
out=$(cnubo h3 vm create v4 --type nano --host h2 --network blue 2>&1)
ok $? "v4 is asked for through h3, on h2" "$out"
V4=$(cl_vm_field v4 ip)
wait_for 20 sh -c "ip netns exec '${CL_NS[h1]}' ip -j neigh show dev '$bridge1' | jq -e --arg ip '$V4' '.[] | select(.dst == \$ip and (.lladdr | startswith(\"0a:\")))' >/dev/null"
ok $? "h1 routes v4's address ($V4) to h2's bridge over the segment"
cin h1 bridge -j fdb show | jq -e --arg a "${CL_ADDR[h2]}" '.[] | select(.dst == $a)' >/dev/null
ok $? "h1's vxlan device forwards to h2's address"
out=$(cnubo h1 vm delete v4 --wait 2>&1)
ok $? "v4 is deleted through h1" "$out"
wait_for 20 sh -c "! ip netns exec '${CL_NS[h1]}' ip -j neigh show dev '$bridge1' | jq -e --arg ip '$V4' '.[] | select(.dst == \$ip)' >/dev/null"
ok $? "and its address is gone from h1's entries"

# A network deleted through one host is taken down on every host.
out=$(for v in v1 v2 v3; do cnubo h3 vm delete "$v" --wait || exit 1; done 2>&1)
ok $? "v1, v2 and v3 are deleted" "$out"
out=$(cnubo h2 network delete blue 2>&1)
ok $? "blue is deleted through h2" "$out"
gone() { ! ip netns exec "${CL_NS[$1]}" ip -d -j link show type vxlan | jq -e ".[] | select(.linkinfo.info_data.id == $VNI)" >/dev/null; }
for h in h1 h2 h3; do
	wait_for 30 gone "$h"
	ok $? "$h has no vxlan device of blue's VNI any more"
done
