#!/usr/bin/env bash
# e2e: metrics and idle stop under real QEMU and the tiny image.
#
#   two VMs; one burns a CPU and writes to its disk, the other idles →
#   the burner's points show it busy and the other's calm, its cgroup's memory, the bytes of its
#   tap (SSH) and its disk writes (QMP query-blockstats), and GET /metrics
#   the same counters → with a 20 s idle stop policy on both, the idle VM is
#   stopped with its reason in the event log and the burner keeps running.
# nubod samples every 2 s here (nubod.json "metrics").
set -u
. "$(dirname "$0")/../lib.sh"

cat >"$T_DIR/nubod.json" <<'JSON'
{"types": [{"name": "c1", "vcpus": 1, "memory_mib": 256}],
 "metrics": {"interval": "2s", "keep": "1h", "coarse_step": "10s", "coarse_keep": "1h"}}
JSON
nubod_start --config "$T_DIR/nubod.json" || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts"
ssh-keygen -q -t ed25519 -N "" -C e2e -f "$T_DIR/id" || exit 1
state() { "$NUBO" vm show "$1" --json | jq -r .state; }
stats() { "$NUBO" vm stats "$1" --since "${2:-1m}" --json; }

out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
for v in burn idle; do
	out=$("$NUBO" vm create "$v" --type c1 --ssh-key "$T_DIR/id.pub" --wait 2>&1)
	ok $? "nubo vm create $v --wait" "$out"
done

# A CPU burner, and 4 MiB written to the disk with its cache flushed.
"$NUBO" vm ssh burn -- "setsid sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
	dd if=/dev/zero of=/root/fill bs=64k count=64 2>/dev/null; sync" 2>>"$T_DIR/ssh.err"
ok $? "the burner starts and writes 4 MiB"
# How much CPU the burner gets depends on the host's load (it shares the
# machine's cores with everything else): the checks ask for a clear gap
# between it and the idle VM, not for a figure.
busy() { stats burn 20s | jq -e '[.samples[].cpu_pct | select(. != null and . > 20)] | length >= 3' >/dev/null; }
calm() { stats idle 20s | jq -e '[.samples[].cpu_pct | select(. != null)] | length >= 3 and max < 10' >/dev/null; }
wait_for 60 busy
ok $? "the burner's points show it busy (above 20 %)" "$(stats burn 20s | jq -c '[.samples[].cpu_pct]')"
wait_for 60 calm
ok $? "and the idle VM's below 10 %" "$(stats idle 20s | jq -c '[.samples[].cpu_pct]')"
s=$(stats burn 2m)
jtrue() { jq -e "$1" <<<"$s" >/dev/null; }
jtrue '[.samples[].mem_bytes | select(. != null and . > 1048576)] | length > 0'
ok $? "and the memory its cgroup holds" "$(jq -c '[.samples[].mem_bytes]' <<<"$s")"
jtrue '[.samples[].net_rx_bytes | select(. != null)] | add > 0'
ok $? "the bytes it received on its tap (SSH)" "$(jq -c '[.samples[].net_rx_bytes]' <<<"$s")"
jtrue '[.samples[].disk_write_bytes | select(. != null)] | add >= 4194304'
ok $? "and the 4 MiB it wrote to its disk (query-blockstats)" "$(jq -c '[.samples[].disk_write_bytes]' <<<"$s")"
out=$("$NUBO" vm stats burn --since 1m 2>&1)
like "$out" 'disk write/s' "nubo vm stats shows it" "$out"

curl -s --unix-socket "$T_SOCK" http://nubo/metrics >"$T_DIR/metrics.txt"
line() { awk -v n="$1" -v vm="$2" '$1 ~ "^"n"\\{" && $1 ~ "vm=\""vm"\"" {print $2}' "$T_DIR/metrics.txt"; }
rx=$(line nubo_vm_network_receive_bytes_total burn)
[ "${rx%.*}" -gt 0 ] 2>/dev/null
ok $? "GET /metrics counts its network bytes ($rx)" "$(grep burn "$T_DIR/metrics.txt")"
wr=$(line nubo_vm_disk_written_bytes_total burn)
[ "${wr%.*}" -ge 4194304 ] 2>/dev/null
ok $? "and its disk writes ($wr)"
mem=$(line nubo_vm_memory_bytes idle)
[ "${mem%.*}" -gt 0 ] 2>/dev/null
ok $? "and each VM's memory ($mem for the idle one)"

for v in burn idle; do
	out=$("$NUBO" vm set "$v" --idle-stop 20s --idle-cpu 10% 2>&1)
	ok $? "nubo vm set $v --idle-stop 20s --idle-cpu 10%" "$out"
done
wait_for 90 sh -c "[ \"\$(\"$NUBO\" vm show idle --json | jq -r .state)\" = stopped ]"
ok $? "the idle VM is stopped" "$(state idle); $(stats idle 1m | jq -c '[.samples[].cpu_pct]')"
ev=$("$NUBO" events --name idle 2>&1)
like "$ev" 'idle-stopped: below 10% CPU' "the event log says why" "$ev"
is "$(state burn)" running "the burner keeps running"
busy
ok $? "still busy" "$(stats burn 20s | jq -c '[.samples[].cpu_pct]')"
