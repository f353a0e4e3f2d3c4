#!/usr/bin/env bash
# e2e: guest isolation. Two micro VMs under real QEMU:
#
#   each QEMU runs as nubo-qemu under seccomp (Seccomp: 2, no new privileges)
#   → each is in its own cgroup nubo-<prefix>/vm-<id> with its vCPUs as CPU
#   quota and its memory plus QEMU's overhead as memory limit → VM A burns CPU
#   on more threads than it has vCPUs and fills its memory → meanwhile VM B
#   answers SSH and nubod's API answers → A's QEMU is charged for that memory,
#   stays under its limit and alive → adoption keeps the cgroup → stop,
#   delete and --destroy remove the groups.
set -u
. "$(dirname "$0")/../lib.sh"

nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
ssh-keygen -q -t ed25519 -N "" -C e2e -f "$T_DIR/id" || exit 1
show() { "$NUBO" vm show "$1" --json | jq -r ".$2"; }

out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
for vm in a b; do
	out=$("$NUBO" vm create $vm --type micro --ssh-key "$T_DIR/id.pub" --wait 2>&1)
	ok $? "nubo vm create $vm --type micro --wait" "$out"
done
prefix=$(t_sql "select value from meta where key='host_prefix'")
quid=$(id -u nubo-qemu)
guest_mib=$("$NUBO" type list --json | jq -r '.types[] | select(.name == "micro") | .memory_mib')
vcpus=$("$NUBO" type list --json | jq -r '.types[] | select(.name == "micro") | .vcpus')

# The files of one VM's cgroup, in whichever layout this host has.
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
	cg_v=2
	cg_dir() { echo "/sys/fs/cgroup/nubo-$prefix/$1"; }
	cg_mem_limit() { cat "$(cg_dir "$1")/memory.max"; }
	cg_cpu() { cat "$(cg_dir "$1")/cpu.max"; }
	cg_mem_peak() { cat "$(cg_dir "$1")/memory.peak" 2>/dev/null || cat "$(cg_dir "$1")/memory.current"; }
	cg_parents() { echo "/sys/fs/cgroup/nubo-$prefix"; }
else
	cg_v=1
	cg_dir() { echo "/sys/fs/cgroup/memory/nubo-$prefix/$1"; }
	cg_mem_limit() { cat "$(cg_dir "$1")/memory.limit_in_bytes"; }
	cg_cpu() { echo "$(cat "/sys/fs/cgroup/cpu/nubo-$prefix/$1/cpu.cfs_quota_us") $(cat "/sys/fs/cgroup/cpu/nubo-$prefix/$1/cpu.cfs_period_us")"; }
	cg_mem_peak() { cat "$(cg_dir "$1")/memory.max_usage_in_bytes"; }
	cg_parents() { echo "/sys/fs/cgroup/cpu/nubo-$prefix /sys/fs/cgroup/memory/nubo-$prefix"; }
fi
echo "# cgroup v$cg_v, prefix $prefix"

for vm in a b; do
	pid=$(show $vm pid)
	id=$(show $vm id)
	status=$(cat "/proc/$pid/status")
	is "$(awk '/^Uid:/ {print $2, $3, $4, $5}' <<<"$status")" "$quid $quid $quid $quid" \
		"QEMU of $vm runs as nubo-qemu (real, effective, saved and fs uid)"
	is "$(awk '/^Seccomp:/ {print $2}' <<<"$status")" 2 "QEMU of $vm runs under a seccomp filter"
	is "$(awk '/^NoNewPrivs:/ {print $2}' <<<"$status")" 1 "QEMU of $vm can gain no privileges"
	grep -q -- "-sandbox on,obsolete=deny,spawn=deny,resourcecontrol=deny" <(tr '\0' ' ' <"/proc/$pid/cmdline")
	ok $? "QEMU of $vm has spawn, resource control and obsolete calls denied"
	if [ $cg_v = 2 ]; then
		is "$(cat "/proc/$pid/cgroup")" "0::/nubo-$prefix/$id" "QEMU of $vm is in its own cgroup"
	else
		is "$(grep -E '^[0-9]+:(cpu|memory):' "/proc/$pid/cgroup" | cut -d: -f2- | sort | tr '\n' ' ')" \
			"cpu:/nubo-$prefix/$id memory:/nubo-$prefix/$id " "QEMU of $vm is in its own cpu and memory cgroups"
	fi
	is "$(cg_cpu "$id")" "$((vcpus * 100000 + 50000)) 100000" "$vm may use $vcpus CPU(s) of time, and half a CPU for QEMU's own threads"
	limit=$(cg_mem_limit "$id")
	[ "$limit" -gt $((guest_mib << 20)) ] && [ "$limit" -le $(((guest_mib + 512) << 20)) ]
	ok $? "$vm's memory limit is its guest memory plus a bounded overhead" "limit $limit bytes, guest $guest_mib MiB"
done

id_a=$(show a id)
pid_a=$(show a pid)
dir_a=$T_STATE/vms/$id_a
is "$(stat -c '%U:%G %a' "$dir_a")" "root:nubo-qemu 750" "a VM's directory is root's, readable by QEMU's group only"
is "$(stat -c '%U %a' "$dir_a/root.qcow2")" "nubo-qemu 600" "its root disk is QEMU's to write, no one else's"
img=$("$NUBO" image show tiny --json | jq -r .id)
is "$(stat -c '%U:%G %a' "$T_STATE/images/$img" "$T_STATE/images/$img/"{disk.qcow2,vmlinuz} | tr '\n' ' ')" \
	"root:nubo-qemu 750 root:nubo-qemu 640 root:nubo-qemu 640 " "the image's folder and files stay root's, readable by QEMU's group only"
[ "$(( 0$(stat -c %a "$T_STATE") & 2 ))" -eq 0 ]
ok $? "the state directory is not world-writable"

# A: more busy threads than vCPUs, then fill its memory with a tmpfs. The
# guest keeps 48 MiB so that its own kernel does not kill its sshd.
avail_kib=$("$NUBO" vm ssh a -- "awk '/MemAvailable/ {print \$2}' /proc/meminfo" 2>>"$T_DIR/ssh.err")
fill_mib=$(( avail_kib / 1024 - 48 ))
[ "$fill_mib" -gt 100 ]
ok $? "A has memory to fill ($fill_mib MiB)"
# setsid (tiny's busybox has no nohup): the loops outlive the SSH session.
"$NUBO" vm ssh a -- "for i in 1 2 3 4; do setsid sh -c 'while :; do :; done' >/dev/null 2>&1 </dev/null & done;
	mkdir -p /mnt/fill && mount -t tmpfs -o size=100% fill /mnt/fill &&
	dd if=/dev/zero of=/mnt/fill/z bs=1M count=$fill_mib 2>/dev/null && echo filled" \
	>"$T_DIR/burn.out" 2>&1 &
burn=$!
T_BG_PIDS+=("$burn")
sleep 3
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid_a/stat"; }
c0=$(cpu_ticks); sleep 3; c1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
[ $(( (c1 - c0) * 100 / hz )) -ge 75 ]   # an idle VM takes a few percent; a loaded host shares its CPUs
ok $? "A's QEMU burns CPU ($(( (c1 - c0) * 100 / hz / 3 ))% of a CPU over 3 s)"
# While A burns and fills, B and nubod answer.
out=$(timeout 60 "$NUBO" vm ssh b -- 'echo b-answers' 2>&1)
is "$out" b-answers "B answers over SSH and runs a command while A burns"
t0=$(date +%s%N)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$T_SOCK" http://nubo/v1/vms)
t1=$(date +%s%N)
is "$code" 200 "nubod's API answers within 5 s while A burns ($(( (t1 - t0) / 1000000 )) ms)"
wait "$burn"
ok $? "A filled $fill_mib MiB of its memory" "$(cat "$T_DIR/burn.out")"
out=$(timeout 60 "$NUBO" vm ssh b -- 'echo b-still' 2>&1)
is "$out" b-still "B still answers with A's memory full"

peak=$(cg_mem_peak "$id_a")
limit=$(cg_mem_limit "$id_a")
[ "$peak" -gt $((fill_mib << 20)) ]
ok $? "A's QEMU is charged for the memory its guest filled (peak $((peak >> 20)) MiB)"
[ "$peak" -le "$limit" ]
ok $? "the peak stays under A's limit ($((limit >> 20)) MiB)"
rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid_a/status" 2>/dev/null)
[ -n "$rss_kib" ] && [ $((rss_kib << 10)) -lt "$limit" ]
ok $? "A's QEMU is alive and its RSS ($((${rss_kib:-0} >> 10)) MiB) is under its limit"
is "$(show a state)" running "A is still running"
out=$(timeout 60 "$NUBO" vm ssh a -- 'echo a-answers' 2>&1)
is "$out" a-answers "A itself still answers"
if [ $cg_v = 1 ]; then
	echo "# A's CPU throttling: $(tr '\n' ' ' <"/sys/fs/cgroup/cpu/nubo-$prefix/$id_a/cpu.stat")"
fi

# A nubod restart adopts the QEMUs and keeps their groups.
nubod_kill9
nubod_start
ok $? "nubod restarts"
is "$(show a pid)" "$pid_a" "A's QEMU is adopted"
[ -d "$(cg_dir "$id_a")" ] && grep -qx "$pid_a" "$(cg_dir "$id_a")/cgroup.procs"
ok $? "the adopted QEMU is still in its cgroup"

out=$("$NUBO" vm stop a --wait 2>&1)
ok $? "nubo vm stop a --wait" "$out"
[ ! -e "$(cg_dir "$id_a")" ]
ok $? "a stopped VM has no cgroup"
out=$("$NUBO" vm start a --wait 2>&1)
ok $? "nubo vm start a --wait" "$out"
[ -d "$(cg_dir "$id_a")" ] && grep -qx "$(show a pid)" "$(cg_dir "$id_a")/cgroup.procs"
ok $? "a started VM is in a new cgroup"
out=$("$NUBO" vm delete a --wait 2>&1)
ok $? "nubo vm delete a --wait" "$out"
[ ! -e "$(cg_dir "$id_a")" ]
ok $? "a deleted VM has no cgroup"

id_b=$(show b id)
nubod_stop
"$NUBOD" --state-dir "$T_STATE" --socket "$T_SOCK" "${T_DB_FLAGS[@]}" --destroy >>"$T_LOG" 2>&1
ok $? "nubod --destroy"
left=
for d in $(cg_parents) "$(cg_dir "$id_b")"; do [ -e "$d" ] && left="$left $d"; done
is "$left" "" "--destroy leaves no cgroup"
