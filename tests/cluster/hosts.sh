#!/usr/bin/env bash
# cluster: three hosts in network namespaces on one PostgreSQL
# (tests/cluster-lib.sh), with real QEMU, dnsmasq and nftables:
#
#   placement by capacity, spread and pinning, with creates through all
#   three APIs at once never overcommitting a host → every host's API
#   manages VMs on every host → kill -9 of one host's nubod leaves its VMs
#   running, and its restart adopts them → a host cut off (its link down,
#   its nubod stopped) turns down with its VMs unknown, and back up with
#   them running when restored.
#
# Each host gives 2 vCPUs (cpu_overcommit 1 over this machine's CPUs, when
# it has 2; the script reads what they give) and a nano VM takes one.
set -u
CL_CONFIG='"cpu_overcommit": 1'
. "$(dirname "$0")/../cluster-lib.sh"

cl_setup
ok $? "three host namespaces on one underlay bridge ($CL_NET.0/24)" || exit 1
cl_start_all
ok $? "three nubods start, one per namespace, on one database" || exit 1
r=$(capi h2 GET /v1/hosts)
is "$(body_of "$r" | jq -r '[.hosts[] | "\(.name):\(.state):\(.address)"] | join(" ")')" \
	"h1:up:${CL_ADDR[h1]} h2:up:${CL_ADDR[h2]} h3:up:${CL_ADDR[h3]}" "each host is up with its underlay address"
CAP=$(body_of "$r" | jq -r '[.hosts[].vcpus_allocatable] | min')
is "$(body_of "$r" | jq -r '[.hosts[].vcpus_allocatable] | unique | length')" 1 "the three hosts give the same vCPUs ($CAP)"
cl_image_tiny
ok $? "tiny is built on h1 and its files are on h2 and h3"

# --- placement: spread, pin, capacity ----------------------------------------------
# One VM per host through h1's API (spread), then h3 filled with pinned VMs
# through h2's API, then more than the rest holds through all three at once.
for v in a1 a2 a3; do
	out=$(cl_vm h1 "$v")
	ok $? "$v is created through h1" "$out"
done
is "$(cl_vm_field a1 host),$(cl_vm_field a2 host),$(cl_vm_field a3 host)" "h1,h2,h3" \
	"spread: the three VMs went to the three hosts"
for i in $(seq 2 "$CAP"); do
	out=$(cl_vm h2 "p$i" --host h3)
	ok $? "p$i is created through h2, pinned to h3" "$out"
	is "$(cl_vm_field "p$i" host)" h3 "p$i is on h3"
done
r=$(capi h1 POST /v1/vms '{"name":"px","type":"nano","host":"h3"}')
is "$(status_of "$r")" 507 "a VM pinned to a full host is refused (507)"
like "$(body_of "$r" | jq -r .error.message)" "host h3" "the refusal names the host"

# h1 and h2 have CAP-1 free each: 2*(CAP-1) of 6 concurrent creates fit.
free=$((2 * (CAP - 1)))
pids=()
for i in 1 2 3 4 5 6; do
	h=h$(((i - 1) % 3 + 1))
	(capi "$h" POST /v1/vms "{\"name\":\"c$i\",\"type\":\"nano\"}" >"$T_DIR/c$i.out") &
	pids+=($!)
done
wait "${pids[@]}"
admitted=0 refused=0 other=
for i in 1 2 3 4 5 6; do
	case $(status_of "$(cat "$T_DIR/c$i.out")") in
	202) admitted=$((admitted + 1)) ;;
	507) refused=$((refused + 1)) ;;
	*) other="$other c$i: $(cat "$T_DIR/c$i.out")" ;;
	esac
done
is "$admitted/$refused$other" "$free/$((6 - free))" "six creates at once through three APIs: $free admitted, the rest refused (507)"
r=$(capi h3 GET /v1/hosts)
is "$(body_of "$r" | jq -r '[.hosts[] | "\(.name):\(.vcpus_used)"] | join(" ")')" "h1:$CAP h2:$CAP h3:$CAP" \
	"every host is full, none beyond what it gives"
for i in 1 2 3 4 5 6; do
	[ "$(status_of "$(cat "$T_DIR/c$i.out")")" = 202 ] && capi h1 DELETE "/v1/vms/c$i" >/dev/null
done
for i in $(seq 2 "$CAP"); do capi h1 DELETE "/v1/vms/p$i" >/dev/null; done
wait_for 120 sh -c "[ \"\$(curl -s --unix-socket '${CL_SOCK[h1]}' http://nubo/v1/vms | jq '.vms | length')\" = 3 ]"
ok $? "the extra VMs are deleted, each by its own host"

# --- every host's API manages every host's VMs -----------------------------------------
for pair in "h3 a1" "h1 a2" "h2 a3"; do
	set -- $pair
	out=$(cnubo "$1" vm stop "$2" --wait 2>&1)
	ok $? "$2 (on $(cl_vm_field "$2" host)) is stopped through $1's API" "$out"
	is "$(CL_ASK=$1 cl_vm_field "$2" state)" stopped "$1's API shows $2 stopped"
	out=$(cnubo "$1" vm start "$2" --wait 2>&1)
	ok $? "and started again through $1's API" "$out"
done
out=$(cl_answer a2 'echo up')
is "$out" up "a2 answers SSH after a start asked through h1"

# --- kill -9 of a host's nubod ------------------------------------------------------------
pid=$(cl_vm_field a2 pid)
cl_kill9 h2
kill -0 "$pid" 2>/dev/null
ok $? "h2's nubod killed -9: a2's QEMU ($pid) still runs"
cl_start h2
ok $? "h2's nubod starts again"
wait_for 30 sh -c "[ \"\$(curl -s --unix-socket '${CL_SOCK[h1]}' http://nubo/v1/vms/a2 | jq -r .state)\" = running ]"
ok $? "a2 is running"
is "$(cl_vm_field a2 pid)" "$pid" "h2 adopted a2's QEMU (the same pid)"
out=$(cl_answer a2 'echo still')
is "$out" still "a2 answers SSH after the adoption"

# --- a host cut off --------------------------------------------------------------------------
pid=$(cl_vm_field a3 pid)
cl_link_down h3
cl_stop h3
ok $? "h3 is cut off: its link down, its nubod stopped"
wait_for 40 sh -c "[ \"\$(curl -s --unix-socket '${CL_SOCK[h1]}' http://nubo/v1/hosts/h3 | jq -r .state)\" = down ]"
ok $? "h1 sees h3 down"
# The host list reads a heartbeat's age; the VMs turn unknown when a nubod marks h3 down.
wait_for 20 sh -c "[ \"\$(curl -s --unix-socket '${CL_SOCK[h1]}' http://nubo/v1/vms/a3 | jq -r .state)\" = unknown ]"
ok $? "a3 (on h3) is unknown"
like "$(cl_vm_field a3 reason)" "h3 is down" "its reason says that h3 is down"
is "$(CL_ASK=h2 cl_vm_field a1 state)" running "a1 (on h1) still runs"
kill -0 "$pid" 2>/dev/null
ok $? "a3's QEMU still runs on h3"
cl_link_up h3
cl_start h3
ok $? "h3's link and nubod are back"
wait_for 30 sh -c "[ \"\$(curl -s --unix-socket '${CL_SOCK[h1]}' http://nubo/v1/hosts/h3 | jq -r .state)\" = up ]"
ok $? "h3 is up again"
wait_for 30 sh -c "[ \"\$(curl -s --unix-socket '${CL_SOCK[h1]}' http://nubo/v1/vms/a3 | jq -r .state)\" = running ]"
ok $? "a3 is running again"
is "$(cl_vm_field a3 pid)" "$pid" "with the same QEMU"
