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
log=${NUBO_LOG:-/var/log/nubo/nubod.log}
# The web console, plain HTTP on this machine only (--listen-http is loopback-only).
console_addr=${NUBO_CONSOLE_ADDR:-127.0.0.1:8080}
export NUBO_SOCKET=$sock

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo runs VMs with bridges and taps: run it as root" >&2
	exit 1
fi
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if ! "$nubo" host show >/dev/null 2>&1; then
	step "starting nubod (state $state, socket $sock, log $log)"
	mkdir -p "$(dirname "$log")"
	setsid "$bin/nubod" --state-dir "$state" --socket "$sock" --listen-http "$console_addr" >>"$log" 2>&1 </dev/null &
	for _ in $(seq 1 100); do "$nubo" host show >/dev/null 2>&1 && break; sleep 0.1; done
	"$nubo" host show >/dev/null || { echo "nubod did not start; see $log" >&2; tail -5 "$log" >&2; exit 1; }
fi
"$nubo" host show

if [ "$("$nubo" image show tiny --json 2>/dev/null | jq -r .state)" != ready ]; then
	step "building the default image 'tiny' from Debian's packages"
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

# A host's first tiny image boots Debian's kernel while tiny's own compiles
# in the background (images/tiny/README.md); say how far that is.
kernel_log=$(ls -1t "${NUBO_CACHE_DIR:-/var/cache/nubo}"/kernels/build-*.log 2>/dev/null | head -n 1) || true
if [ -n "$kernel_log" ] && ! grep -q '^==> kernel: done' "$kernel_log"; then
	last=$(grep '^==> kernel' "$kernel_log" | tail -n 1) || last="==> kernel: starting"
	cat <<MSG

tiny's own kernel is still compiling in the background (${last#==> }; log:
$kernel_log). The VMs boot Debian's kernel until it is done; from then on
they boot tiny's (faster) on their next start: nubo vm stop demo --wait && nubo vm start demo --wait
MSG
fi

# A token for the web console's login (made once; its secret is shown only
# when it is made, so it is kept beside the log for the next run).
token_file=$(dirname "$log")/console-token
if [ ! -s "$token_file" ] || ! "$nubo" token show console >/dev/null 2>&1; then
	"$nubo" token delete console >/dev/null 2>&1 || true
	(umask 077 && "$nubo" token create console --json | jq -r .secret >"$token_file")
fi

cat <<MSG

nubo is running. Put the CLI on your PATH (or run 'make install'):
  export PATH=$bin:\$PATH

$(curl -s -o /dev/null "http://$console_addr/" || echo "(the nubod that runs now was started without --listen-http $console_addr: stop it and run make demo again to get the console)")
The web console: open http://$console_addr/ in a browser on this machine
and log in with the API token in $token_file:
  $(cat "$token_file")
(from another machine: ssh -L 8080:$console_addr THIS-HOST, then http://localhost:8080/;
 nubod --listen HOST:PORT --tls-cert … --tls-key … serves it over HTTPS too; docs/console.md)

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
