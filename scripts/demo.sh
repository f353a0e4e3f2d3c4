#!/usr/bin/env bash
# make demo: starts nubod (unless one already answers), builds the default
# image, boots a VM, runs `uname -a` in it over SSH and shows what to try next.
# Run again, it reuses what is there.
set -euo pipefail
build=${1:-build}
bin=$(cd "$build/src/cmd" && pwd)
nubo=$bin/nubo
sock=${NUBO_SOCKET:-/run/nubo/nubod.sock}
state=${NUBO_STATE_DIR:-/var/lib/nubo}
log=/var/log/nubo/nubod.log
export NUBO_SOCKET=$sock

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo runs VMs with bridges and taps: run it as root" >&2
	exit 1
fi
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if ! "$nubo" host show >/dev/null 2>&1; then
	step "starting nubod (state $state, socket $sock, log $log)"
	mkdir -p "$(dirname "$log")"
	setsid "$bin/nubod" --state-dir "$state" --socket "$sock" >>"$log" 2>&1 </dev/null &
	for _ in $(seq 1 100); do "$nubo" host show >/dev/null 2>&1 && break; sleep 0.1; done
	"$nubo" host show >/dev/null || { echo "nubod did not start; see $log" >&2; tail -5 "$log" >&2; exit 1; }
fi
"$nubo" host show

if [ "$("$nubo" image show tiny --json 2>/dev/null | jq -r .state)" != ready ]; then
	step "building the default image 'tiny' from Debian's packages (the first build compiles its kernel: a few minutes)"
	"$nubo" image build tiny --wait
fi

step "creating VM 'demo' (type small, image tiny) and waiting for SSH"
case "$("$nubo" vm show demo --json 2>/dev/null | jq -r .state)" in
running) echo "demo is already running" ;;
stopped | error) "$nubo" vm start demo --wait ;;
*) "$nubo" vm create demo --type small --wait ;;
esac

step "nubo vm ssh demo -- uname -a"
"$nubo" vm ssh demo -- uname -a

step "nubo vm list"
"$nubo" vm list

cat <<MSG

nubo is running. Put the CLI on your PATH (or run 'make install'):
  export PATH=$bin:\$PATH

Then try:
  nubo vm ssh demo                 # a shell in the VM
  nubo vm show demo                # state, IP, boot phase timings, accel
  nubo vm console demo             # the kernel's boot messages
  nubo vm stop demo --wait         # ACPI power-down; 'nubo vm start demo --wait' boots it again
  nubo vm create web1 --type nano --ssh-key ~/.ssh/id_ed25519.pub --wait
  nubo type list                   # machine types and prices
  nubo vm delete demo --wait       # nothing left behind

nubod keeps running in the background (log: $log).
Stop it with: pkill -f '$bin/nubod'   (VMs keep running; a new nubod adopts them)
MSG
