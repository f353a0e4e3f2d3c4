#!/usr/bin/env bash
# e2e: an auto-scaling group of two real tiny VMs behind a load balancer,
# each serving its own name over HTTP (busybox httpd, started by its
# user-data). The VMs join the balancer once ready and answer through its
# VIP; a VM deleted behind the group's back, and one whose QEMU is killed,
# are replaced by new VMs that join the balancer; CPU burners in the guests
# scale the group out (read from the QEMUs' cgroups) and it scales in when
# they stop; deleting the group leaves no VM. Kept short: the decisions'
# arithmetic and crashes are in tests/api/groups.sh.
set -u
. "$(dirname "$0")/../lib.sh"

nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
ssh-keygen -q -t ed25519 -N "" -C e2e -f "$T_DIR/id" || exit 1
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
CIDR=$("$NUBO" network show default --json | jq -r .cidr)
"$NUBO" firewall create web >/dev/null && "$NUBO" firewall rule add web --proto tcp --port 22 >/dev/null &&
	"$NUBO" firewall rule add web --proto tcp --port 80 --from "$CIDR" >/dev/null
ok $? "firewall web allows SSH, and HTTP from the network"
out=$("$NUBO" lb create web --listen 80 --check http:/ --interval 1s --timeout 500ms --rise 2 --fall 2 --drain 2s 2>&1)
ok $? "nubo lb create web" "$out"
VIP=$("$NUBO" lb show web --json | jq -r .vip)
cat >"$T_DIR/ud.sh" <<'EOF'
#!/bin/sh
mkdir -p /tmp/www && hostname > /tmp/www/index.html
setsid busybox httpd -p 80 -h /tmp/www </dev/null >/dev/null 2>&1
EOF
out=$("$NUBO" group create web --type nano --min 2 --max 3 --ssh-key "$T_DIR/id.pub" --firewall web --lb web \
	--user-data "$T_DIR/ud.sh" --drain 1s --target-cpu 10 --warmup 5s --cooldown 10s 2>&1)
ok $? "nubo group create web --min 2 --max 3 --lb web --target-cpu 10" "$out"

members() { "$NUBO" group show web --json | jq -r '[.members[] | select(.state=="active") | .name] | sort | join(" ")'; }
# healthy_two: two live members, both healthy on the balancer, and two VMs named web-*
healthy_two() {
	[ "$("$NUBO" group show web --json | jq -r '"\(.live) \(.healthy) \(.members | length)"')" = "2 2 2" ] &&
		[ "$("$NUBO" vm list --json | jq '[.vms[] | select(.name | startswith("web-"))] | length')" = 2 ]
}
# served: the names that answered 12 requests through the VIP, sorted, unique
served() { local i; for i in $(seq 1 12); do curl -s --max-time 3 "http://$VIP/"; done | sort -u | paste -sd' '; }

wait_for 150 healthy_two
ok $? "two VMs boot, run their user-data and become healthy on the balancer" "$("$NUBO" group show web 2>&1)"
vms=$(members)
like "$vms" '^web-[0-9a-f]{5} web-[0-9a-f]{5}$' "named web-<suffix> ($vms)"
is "$("$NUBO" lb show web --json | jq -r '[.targets[].vm] | sort | join(" ")')" "$vms" "both are the balancer's targets"
is "$(served)" "$vms" "requests through the VIP reach both"

# --- a VM deleted behind the group's back ------------------------------------------------
victim=${vms%% *}
out=$("$NUBO" vm delete "$victim" --wait 2>&1)
ok $? "nubo vm delete $victim (one of the group's VMs)" "$out"
replaced() { ! members | grep -qw "$1" && healthy_two; }
wait_for 150 replaced "$victim"
ok $? "the group makes a new VM, healthy on the balancer" "$("$NUBO" group show web 2>&1)"
vms=$(members)
is "$(served)" "$vms" "the VIP reaches the new VM and the old one ($vms)"

# --- a VM whose QEMU dies -------------------------------------------------------------------
victim=${vms##* }
pid=$("$NUBO" vm show "$victim" --json | jq -r .pid)
kill -9 "$pid"
ok $? "QEMU of $victim (pid $pid) is killed"
wait_for 150 replaced "$victim"
ok $? "the VM in error is replaced too" "$("$NUBO" group show web 2>&1)"
"$NUBO" events --name web 2>/dev/null | grep -q "replace $victim: its VM is in error"
ok $? "the event log says why"
vms=$(members)
is "$(served)" "$vms" "and the VIP reaches both VMs ($vms)"

# --- CPU burners scale it out, and in again when they stop ----------------------------------
on() { local vm=$1; shift; "$NUBO" vm ssh "$vm" -- "$@" 2>>"$T_DIR/ssh.err"; }
# (a loaded 2-core host gives a burning TCG guest a fraction of a CPU: the
# target is low, and an idle tiny guest stays well below it)
read_cpu() { "$NUBO" group show web --json | jq -e '[.members[] | select(.state=="active") | .cpu | numbers] | length == 2' >/dev/null; }
wait_for 30 read_cpu
ok $? "each VM's CPU is read from its QEMU's cgroup" "$("$NUBO" group show web 2>&1)"
echo "# idle: $("$NUBO" group show web --json | jq -c '[.members[] | .cpu]')"
for vm in $vms; do
	on "$vm" 'setsid sh -c "while :; do :; done" </dev/null >/dev/null 2>&1 & echo $! > /tmp/burn.pid'
done
wait_for 90 sh -c "[ \"\$($NUBO group show web --json | jq -r .desired)\" = 3 ]"
ok $? "burning CPU in both VMs scales the group out to max (3)" "$("$NUBO" group show web 2>&1; cat "$T_DIR/ssh.err")"
like "$("$NUBO" events --name web 2>&1)" 'scale-out: desired 2→3 \(average CPU [0-9.]+% of 2 VMs is above the target 10%' \
	"the decision is an event with its figures"
for vm in $vms; do on "$vm" 'kill $(cat /tmp/burn.pid)'; done
wait_for 120 sh -c "[ \"\$($NUBO group show web --json | jq -r .desired)\" = 2 ]"
ok $? "when they stop it scales in again after the cooldown" "$("$NUBO" events --name web 2>&1 | tail -5)"
like "$("$NUBO" events --name web 2>&1)" 'scale-in: desired 3→2 \(average CPU [0-9.]+% of [23] VMs stayed below the target 10%' \
	"one VM, with the figures"

"$NUBO" events --name web 2>&1 | grep -E 'scale-(out|in):' | sed 's/^/# /'

out=$("$NUBO" group delete web --wait 2>&1)
ok $? "nubo group delete web --wait" "$out"
is "$("$NUBO" vm list --json | jq '[.vms[] | select(.name | startswith("web-"))] | length')" 0 "no VM of the group is left"
is "$("$NUBO" lb show web --json | jq '.targets | length')" 0 "and the balancer has no target left"
