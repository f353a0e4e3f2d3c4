#!/usr/bin/env bash
# e2e: a VM's whole life under real QEMU (TCG here, KVM where the CPU has it),
# with a real bridge, dnsmasq, nftables and SSH, driven through the nubo CLI.
#
#   create → ssh → dnsmasq killed (started again, the VM's lease renewed) → stop/start (same IP, disk kept) → reboot → kill -9 nubod
#   (VM adopted, same QEMU, uptime goes on) → a second nubod and a --destroy
#   beside it are refused (the VM runs on) → kill -9 QEMU (error with a
#   reason) → start again → guest powers itself off → delete (nothing left)
#   → destroy with a balancer's target running (no QEMU, bridge, dnsmasq or
#   nftables table left)
set -u
. "$(dirname "$0")/../lib.sh"

nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
ssh-keygen -q -t ed25519 -N "" -C e2e -f "$T_DIR/id" || exit 1
show() { "$NUBO" vm show "$1" --json | jq -r ".$2"; }
on_vm() { "$NUBO" vm ssh web1 -- "$@" 2>>"$T_DIR/ssh.err"; }

out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
# The recipe's steps are phases of the build, recorded as each completes.
for step in "check host tools" kernel rootfs disk image.json install build ready; do
	like "$out" "^  $step +[0-9]+\.[0-9]+s$" "the build shows the step \"$step\" as a phase"
done
is "$("$NUBO" image show tiny --json | jq -r .state)" ready "the tiny image is ready"

out=$("$NUBO" vm create web1 --ssh-key /nonexistent/key.pub 2>&1)
is "$?" 2 "an unreadable SSH key file is a CLI error (exit 2)"
like "$out" "cannot read SSH key /nonexistent/key.pub" "the error names the file"
grep -q "POST /v1/vms" "$T_LOG"
ok $((! $?)) "no request reached nubod"

out=$("$NUBO" vm create web1 --type small --ssh-key "$T_DIR/id.pub" --wait 2>&1)
ok $? "nubo vm create web1 --wait" "$out"
for phase in scheduled disk boot ssh-ready; do
	like "$out" "$phase +[0-9]+\.[0-9]+s" "create shows the $phase phase with its time"
done
is "$(show web1 state)" running "web1 is running"
vm_id=$(show web1 id)
ip1=$(show web1 ip)
prefix=$(t_sql "select value from meta where key='host_prefix'")
tap="nt$prefix${vm_id:3:6}"
like "$ip1" '^10\.' "web1 has an address on the default network"
ip link show "$tap" >/dev/null 2>&1
ok $? "web1's tap $tap is on the host"
like "$(on_vm uname -a)" '^Linux web1 ' "ssh runs uname -a in the VM (hostname from the seed)"
is "$(on_vm nproc)" 1 "nproc is 1 for a small VM"
"$NUBO" vm ssh web1 -- exit 7
is "$?" 7 "nubo vm ssh returns the remote command's exit code"
like "$("$NUBO" vm console web1)" 'Linux version' "the console log holds the kernel's boot messages"
on_vm 'echo kept > /root/persist && sync'
ok $? "a file is written in the VM"

# A network's dnsmasq that dies is started again (nubod looks every 5 s),
# still reserving web1's address: the guest gets it when it asks again.
net_dir=$(dirname "$(pgrep -af "dnsmasq --conf-file=$T_STATE/" | head -1 | sed 's/.*--conf-file=\([^ ]*\).*/\1/')")
dns_pid=$(cat "$net_dir/dnsmasq.pid" 2>/dev/null)
[ -n "$dns_pid" ] && kill -9 "$dns_pid"
ok $? "the default network's dnsmasq (pid ${dns_pid:-none}) is killed"
wait_for 20 sh -c "p=\$(cat '$net_dir/dnsmasq.pid' 2>/dev/null) && [ \"\$p\" != '$dns_pid' ] && kill -0 \$p 2>/dev/null"
ok $? "nubod starts it again" "$(grep dnsmasq "$T_LOG" | tail -3)"
like "$(grep 'dnsmasq' "$T_LOG")" "network default: its dnsmasq .* is not running; starting it again" "and logs why"
like "$(on_vm "udhcpc -i eth0 -n -q -t 5 -T 1 -s /bin/true 2>&1")" "lease of $ip1 obtained" \
	"web1 asks for an address again and gets its own, $ip1"

out=$("$NUBO" vm stop web1 --wait 2>&1)
ok $? "nubo vm stop web1 --wait" "$out"
is "$(show web1 state)" stopped "web1 is stopped"
is "$(show web1 reason)" null "by ACPI power-down, not forced off after the timeout"
pgrep -f -- "-name $vm_id" >/dev/null
ok $((! $?)) "no QEMU runs for a stopped VM"
is "$(show web1 pid)" null "a stopped VM has no pid"
is "$("$NUBO" host show --json | jq .vcpus_used)" 0 "a stopped VM holds no vCPU"
out=$("$NUBO" vm stop web1 2>&1)
ok $? "stopping a stopped VM succeeds" "$out"

out=$("$NUBO" vm start web1 --wait 2>&1)
ok $? "nubo vm start web1 --wait" "$out"
is "$(show web1 ip)" "$ip1" "web1 keeps its IP across stop and start"
is "$(on_vm cat /root/persist)" kept "the file written before the stop is still there"

boot0=$(on_vm cat /proc/sys/kernel/random/boot_id)
out=$("$NUBO" vm reboot web1 --wait 2>&1)
ok $? "nubo vm reboot web1 --wait" "$out"
boot1=$(on_vm cat /proc/sys/kernel/random/boot_id)
[ -n "$boot1" ] && [ "$boot1" != "$boot0" ]
ok $? "web1 answers over SSH after the reboot, with a new boot id"

# kill -9 nubod: the VM keeps running and the next nubod adopts it.
pid=$(show web1 pid)
up_before=$(on_vm cut -d. -f1 /proc/uptime)
nubod_kill9
sleep 1
kill -0 "$pid" 2>/dev/null
ok $? "QEMU outlives a kill -9 of nubod"
# A tap made by an earlier nubo was an isolated bridge port; the next nubod
# frees it on adoption (a load balancer's hairpin needs it).
ip link set dev "$tap" type bridge_slave isolated on
like "$(ip -d link show dev "$tap")" 'isolated on' "web1's tap made an isolated port, as an earlier nubo did"
nubod_start
ok $? "nubod restarts"
is "$(show web1 state)" running "the VM is still running after the restart"
is "$(show web1 pid)" "$pid" "it is adopted: the same QEMU process"
up_after=$(on_vm cut -d. -f1 /proc/uptime)
[ -n "$up_after" ] && [ "$up_after" -ge "$up_before" ]
ok $? "its uptime went on ($up_before s → $up_after s): it was not restarted"
grep -q "adopted running QEMU pid $pid" "$T_LOG"
ok $? "nubod logs the adoption"
like "$(ip -d link show dev "$tap")" 'isolated off' "the adoption freed the isolated tap"

# PostgreSQL stopped under a running VM (only on that engine; the script's
# own private cluster): the VM runs on, the API says 503, and nubod takes
# up again once the server is back.
if [ ${#T_DB_FLAGS[@]} -gt 0 ]; then
	source "$(dirname "$0")/../pg.sh"
	pg_server_stop
	ok $? "the PostgreSQL server stops under a running VM"
	sleep 3   # a few reconciler passes without the database
	is "$(status_of "$(api GET /v1/vms/web1)")" 503 "the API answers 503 while it is down"
	kill -0 "$pid" 2>/dev/null
	ok $? "web1's QEMU runs on without the database"
	# (nubo vm ssh asks the API for the address and host key: the banner is read by hand)
	is "$(timeout 10 bash -c "exec 3<>/dev/tcp/$ip1/22 && head -c 4 <&3" 2>/dev/null)" SSH- "and web1's sshd answers"
	pg_server_start
	ok $? "the PostgreSQL server starts again"
	wait_for 20 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $T_SOCK http://nubo/v1/vms/web1)\" = 200 ]"
	ok $? "nubod reconnects: the API answers 200 again"
	is "$(show web1 state)" running "web1 is still running"
	is "$(show web1 pid)" "$pid" "in the same QEMU"
fi

# One nubod per state directory: a second nubod, or a --destroy, beside the
# live one is refused at once and touches nothing. (timeout only keeps a
# broken lock from hanging the script: an unrefused nubod would serve on.)
out=$(timeout 120 "$NUBOD" --state-dir "$T_STATE" --socket "$T_DIR/other.sock" 2>&1)
is "$?" 1 "a second nubod on the same state directory is refused"
like "$out" "is in use by nubod pid $NUBOD_PID" "it names the pid that holds the directory"
out=$(timeout 120 "$NUBOD" --state-dir "$T_STATE" --socket "$T_DIR/other.sock" --destroy 2>&1)
is "$?" 1 "nubod --destroy beside a live nubod is refused"
like "$out" "is in use by nubod pid $NUBOD_PID, .*nothing was changed" "it names the pid and says nothing changed"
kill -0 "$pid" 2>/dev/null
ok $? "the VM's QEMU still runs"
is "$(show web1 state)/$(show web1 pid)" "running/$pid" "the live nubod still shows the VM running in the same QEMU"
is "$(on_vm cat /root/persist)" kept "the VM answers over SSH with its disk intact"
ip link show "$tap" >/dev/null 2>&1
ok $? "its tap is still there"

# kill -9 QEMU: the VM is reported in error, with a reason.
ip link show "$tap" >/dev/null 2>&1
ok $? "the running VM's tap is on the host"
kill -9 "$pid"
wait_for 15 sh -c "[ \"\$($NUBO vm show web1 --json | jq -r .state)\" = error ]"
ok $? "a VM whose QEMU was killed goes to error"
like "$(show web1 reason)" "exited unexpectedly" "the error gives a reason"
ip link show "$tap" >/dev/null 2>&1
ok $((! $?)) "the dead VM's tap is removed"
vmdir=$T_STATE/vms/$(show web1 id)
[ ! -e "$vmdir/qemu.pid" ] && [ ! -e "$vmdir/qmp.sock" ]
ok $? "the dead QEMU's pid file and QMP socket are removed" "$(ls -l "$vmdir")"
out=$("$NUBO" vm stop web1 2>&1)
like "$out" 'is in error .*exited unexpectedly.*nubo vm start web1.*nubo vm delete web1' \
	"stop on a VM in error says so, why, and what to do"
out=$("$NUBO" vm start web1 --wait 2>&1)
ok $? "a VM in error starts again" "$out"
is "$(on_vm cat /root/persist)" kept "and its disk is intact"
ip link show "$tap" >/dev/null 2>&1
ok $? "with its tap back on the host"

# The guest powers itself off: a clean stop, not an error.
on_vm poweroff
wait_for 30 sh -c "[ \"\$($NUBO vm show web1 --json | jq -r .state)\" = stopped ]"
ok $? "a guest that powers itself off is reported stopped"
like "$(show web1 reason)" "powered itself off" "with the reason"

out=$("$NUBO" vm delete web1 --wait 2>&1)
ok $? "nubo vm delete web1 --wait" "$out"
is "$("$NUBO" vm list --json | jq '.vms | length')" 0 "no VM is listed"
pgrep -f -- "-name $vm_id" >/dev/null
ok $((! $?)) "no QEMU process is left"
ip link show "$tap" >/dev/null 2>&1
ok $((! $?)) "no tap is left"
[ ! -e "$T_STATE/vms/$vm_id" ]
ok $? "no VM files are left"
! grep -rqs "$ip1" "$T_STATE"/networks/*/hosts
ok $? "no DHCP reservation is left"

# A QEMU that exits while it sets up (here: a kernel it cannot load) fails
# the start with QEMU's own message, and leaves nothing running.
tiny_dir=$T_STATE/images/$("$NUBO" image show tiny --json | jq -r .id)
printf 'not a kernel\n' >"$T_DIR/bad-kernel"
out=$("$NUBO" image import badkernel --file "$tiny_dir/disk.qcow2" --boot direct --kernel "$T_DIR/bad-kernel" --wait 2>&1)
ok $? "an image with a kernel QEMU cannot load imports" "$out"
out=$("$NUBO" vm create bad --image badkernel --wait 2>&1)
ok $((! $?)) "creating a VM from it fails" "$out"
like "$out" "exited during start-up: qemu: invalid kernel header" "with QEMU's own message"
is "$(show bad state)" error "the VM is in error"
bad_id=$(show bad id)
pgrep -f -- "-name $bad_id" >/dev/null
ok $((! $?)) "no QEMU is left of it"
out=$("$NUBO" vm delete bad --wait 2>&1)
ok $? "the failed VM deletes" "$out"

# Destroying the state stops the VMs that still run, a balancer's target
# too (a delete would drain it first; --destroy takes the rules down with
# it, so it does not wait), and removes the network's host objects.
out=$("$NUBO" vm create web2 --wait 2>&1)
ok $? "nubo vm create web2 --wait, to be running at --destroy" "$out"
web2_id=$(show web2 id)
out=$("$NUBO" lb create lbd --listen 80 --targets web2 --drain 10m 2>&1)
ok $? "a balancer over web2, with a drain of 10 minutes" "$out"
ip -o link show type bridge | grep -q "nb$prefix"
ok $? "nubod's bridge nb$prefix… is on the host before --destroy"
nft list table inet "nubo_$prefix" >/dev/null
ok $? "and its table nubo_$prefix"
nubod_stop
"$NUBOD" --state-dir "$T_STATE" --socket "$T_SOCK" "${T_DB_FLAGS[@]}" --destroy >>"$T_LOG" 2>&1
ok $? "nubod --destroy succeeds" "$(tail -5 "$T_LOG")"
pgrep -f -- "-name $web2_id" >/dev/null
ok $((! $?)) "the running balancer target's QEMU is stopped, not left to drain"
ip -o link show type bridge | grep -q "nb$prefix"
ok $((! $?)) "no bridge is left"
nft list tables 2>/dev/null | grep -q "nubo_$prefix"
ok $((! $?)) "no nftables table is left"
pgrep -f "dnsmasq --conf-file=$T_STATE" >/dev/null
ok $((! $?)) "no dnsmasq is left"
