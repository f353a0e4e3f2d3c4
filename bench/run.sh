#!/usr/bin/env bash
# make bench: nubo measured side by side with peers on this machine (issue 5).
#
#   bench/run.sh [BUILD_DIR]          (root; BUILD_DIR defaults to build)
#
# Environment:
#   BENCH_N=5            runs per measurement (min/median/max are over these)
#   BENCH_N2=2           runs of benchmark 2 (debian-12 boots take ~40 s per peer here)
#   BENCH_N4=3           runs of benchmark 4 (ten VMs at once, ~25 s per peer here)
#   BENCH_ONLY="1 2 3 4 5 6 8"   which benchmarks (see bench/README.md)
#   BENCH_API_SECONDS=1 BENCH_API_SECONDS_LONG=5   length of each API load run
#                        (the long one for the 10,000-row list)
#   BENCH_RESULTS=bench/RESULTS.md   where the report goes
#   BENCH_KEEP=1         keep the scratch directory /tmp/bench-* (raw data, logs)
#
# Each benchmark script prints its table and leaves a markdown fragment; this
# script prepares what they share (a private nubod with the tiny image, a
# bridge with dnsmasq for the plain peers, a libvirtd), runs them, writes
# RESULTS.md and removes everything it made, also after a failure or Ctrl-C.
set -uo pipefail

BENCH_SRC=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_SRC/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BENCH_SRC REPO BUILD
export BENCH_N=${BENCH_N:-5}
BENCH_ONLY=${BENCH_ONLY:-1 2 3 4 5 6 8}
RESULTS=${BENCH_RESULTS:-$BENCH_SRC/RESULTS.md}
. "$BENCH_SRC/lib.sh"

[ "$(id -u)" = 0 ] || die "the benchmarks run VMs with bridges and taps: run them as root"
[ -x "$BUILD/src/cmd/nubod" ] && [ -x "$BUILD/src/cmd/nubo" ] || die "no nubod in $BUILD: build first (make)"
case $BENCH_N in '' | *[!0-9]* | 0) die "BENCH_N must be a positive number" ;; esac

T_START=$(date +%s)

# --- tools ---------------------------------------------------------------------
step "checking tools"
"$REPO/scripts/install-deps.sh" || die "cannot install nubo's dependencies"
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v virt-install >/dev/null || need+=(virtinst)
command -v libvirtd >/dev/null || need+=(libvirt-daemon-system)
command -v genisoimage >/dev/null || need+=(genisoimage)
command -v zstd >/dev/null || need+=(zstd)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; } ||
		say "warning: could not install ${need[*]}; the benchmarks that need them are skipped"
fi

# --- scratch directory and cleanup ---------------------------------------------
BENCH_DIR=$(mktemp -d /tmp/bench-XXXXXX)
chmod 755 "$BENCH_DIR" # libvirt's QEMU user reads its disks below it
BENCH_ID=$(printf '%04x' $(($$ % 65536)))
export BENCH_DIR BENCH_ID
mkdir -p "$BENCH_DIR"/{bin,out,data,logs}
finish() {
	local rc=$?
	trap - EXIT INT TERM
	step "cleaning up"
	bench_cleanup
	if [ -n "${BENCH_KEEP:-}" ]; then
		say "scratch directory kept: $BENCH_DIR"
	else
		rm -rf "$BENCH_DIR"
	fi
	exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

# The binaries under test are copied, so that a rebuild during the run changes nothing.
cp "$BUILD/src/cmd/nubod" "$BUILD/src/cmd/nubo" "$BENCH_DIR/bin/"
export BENCH_BIN=$BENCH_DIR/bin
export NUBO=$BENCH_BIN/nubo
# The helpers: from the meson build if bench/ is part of it, else compiled here.
if [ -x "$BUILD/bench/benchtool" ] && [ -x "$BUILD/bench/seed_store" ]; then
	cp "$BUILD/bench/benchtool" "$BUILD/bench/seed_store" "$BENCH_DIR/bin/"
else
	cc -O2 -Wall -D_GNU_SOURCE -o "$BENCH_DIR/bin/benchtool" "$BENCH_SRC/benchtool.c" \
		$(pkg-config --cflags --libs jansson gnutls) -lpthread -lm || die "cannot build benchtool"
	cc -O2 -Wall -D_GNU_SOURCE -I"$REPO" -I"$REPO/src" -I"$BUILD" -o "$BENCH_DIR/bin/seed_store" \
		"$BENCH_SRC/seed_store.c" "$BUILD/src/store/libnubo_store.a" "$BUILD/src/model/libnubo_model.a" \
		"$BUILD/src/util/libnubo_util.a" $(pkg-config --cflags --libs sqlite3 jansson gnutls libpq) -lpthread -lm ||
		die "cannot build seed_store"
fi
export BENCHTOOL=$BENCH_DIR/bin/benchtool SEED_STORE=$BENCH_DIR/bin/seed_store

export BENCH_KEY=$BENCH_DIR/id_ed25519
ssh-keygen -q -t ed25519 -N "" -C bench -f "$BENCH_KEY" || die "ssh-keygen failed"

# --- machine ---------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY_BEFORE=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 5 { printf "%s%s (%s%%)", n++ ? ", " : "", $2, $1 }')

# --- the nubod under test --------------------------------------------------------
step "starting a private nubod and building the tiny image"
export NUBO_STATE=$BENCH_DIR/state NUBO_SOCKET=$BENCH_DIR/nubod.sock
export XDG_CONFIG_HOME=$BENCH_DIR/config
export NUBOD_LOG=$BENCH_DIR/logs/nubod.log
# 10 nano VMs at once need 10 vCPUs: more than 2 cores × the default overcommit of 4.
echo '{"cpu_overcommit": 8.0}' >"$BENCH_DIR/nubod.json"
NUBOD_PID=$(nubod_up "$NUBO_STATE" "$NUBO_SOCKET" "$NUBOD_LOG" --config "$BENCH_DIR/nubod.json") ||
	die "nubod did not start"
export NUBOD_PID
t=$(now_ms)
"$NUBO" image build tiny --wait >"$BENCH_DIR/logs/image-build.log" 2>&1 ||
	{ cat "$BENCH_DIR/logs/image-build.log" >&2; die "nubo image build tiny failed"; }
IMAGE_BUILD_MS=$(($(now_ms) - t))
TINY_ID=$(api_get /v1/images/tiny | jq -r .id)
export TINY_DIR=$NUBO_STATE/images/$TINY_ID
ACCEL=$(api_get /v1/host | jq -r .accel)

# The first VM also brings up nubo's network (bridge, dnsmasq, nftables): a
# once-per-host cost, measured here and kept out of the per-VM figures.
step "first VM (brings up nubo's default network)"
t=$(now_ms)
"$NUBO" vm create warmup --type small --ssh-key "$BENCH_KEY.pub" --wait >"$BENCH_DIR/logs/warmup.log" 2>&1 ||
	{ cat "$BENCH_DIR/logs/warmup.log" >&2; die "the first VM did not boot"; }
COLD_MS=$(($(now_ms) - t))
nubo_retire warmup

# --- the peers ---------------------------------------------------------------------
step "peers: a bridge with dnsmasq for plain QEMU and libvirt"
net_up
LIBVIRT_NOTE="not available"
if libvirt_up; then
	:
else
	say "warning: no usable libvirt; its columns stay empty"
fi
export LIBVIRT_OK LIBVIRT_NOTE PEER_NET PEER_BR

# --- the benchmarks ------------------------------------------------------------------
declare -A RAN=()
for b in $BENCH_ONLY; do
	script=$(ls "$BENCH_SRC"/0"$b"-*.sh 2>/dev/null | head -n 1)
	[ -n "$script" ] || die "no benchmark $b"
	step "benchmark $(basename "$script" .sh)"
	t=$(now_ms)
	n=$BENCH_N
	[ "$b" = 2 ] && n=${BENCH_N2:-$((BENCH_N < 2 ? BENCH_N : 2))}
	[ "$b" = 4 ] && n=${BENCH_N4:-$((BENCH_N < 3 ? BENCH_N : 3))}
	BENCH_N=$n bash "$script"
	rc=$?
	RAN[$b]="$rc $(($(now_ms) - t))"
	[ $rc -eq 0 ] || say "warning: $(basename "$script") failed (exit $rc)"
done

# --- a check the numbers depend on ----------------------------------------------------
# A VM created right after another was deleted: nubod hands it the freed
# address at once. Does the guest get that address from dnsmasq?
step "check: the address of a VM created right after a delete"
reuse_check() {
	local ip_a ip_b got id
	"$NUBO" vm create reuse-a --type nano --ssh-key "$BENCH_KEY.pub" --wait >/dev/null 2>&1 || { echo "not run (reuse-a did not boot)"; return; }
	ip_a=$(api_get /v1/vms/reuse-a | jq -r .ip)
	"$NUBO" vm delete reuse-a --wait >/dev/null 2>&1
	"$NUBO" vm create reuse-b --type nano --ssh-key "$BENCH_KEY.pub" >/dev/null 2>&1
	ip_b=$(api_get /v1/vms/reuse-b | jq -r .ip)
	id=$(api_get /v1/vms/reuse-b | jq -r .id)
	for _ in $(seq 1 300); do
		got=$(sed -n 's/.*ssh ready on \([0-9.]*\).*/\1/p' "$NUBO_STATE/vms/$id/console.log" 2>/dev/null | head -n 1)
		[ -n "$got" ] && break
		sleep 0.1
	done
	"$NUBO" vm stop reuse-b --force >/dev/null 2>&1
	if [ "$ip_a" != "$ip_b" ]; then
		echo "not reproduced: the second VM was given $ip_b, not the freed $ip_a"
	elif [ "$got" = "$ip_b" ]; then
		echo "ok: the second VM was given the freed $ip_b and its guest got $got"
	else
		echo "BROKEN: the second VM was given the freed address $ip_b, but dnsmasq still held the deleted VM's lease on it and the guest got ${got:-no address within 30 s}; nubod probes $ip_b and reports the create failed after ssh_wait_s (300 s)"
	fi
}
REUSE=$(reuse_check)
say "$REUSE"
echo "$REUSE" >"$BENCH_DIR/out/reuse.txt"

# --- RESULTS.md -----------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T_START))
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || COMMIT="$COMMIT + uncommitted changes in src/"
ran=
for b in $BENCH_ONLY; do ran="$ran $b:${RAN[$b]%% *}"; done
{
	printf 'BENCH_N=%q\nBENCH_ONLY=%q\nBUILD=%q\nACCEL=%q\nLIBVIRT_NOTE=%q\nCOMMIT=%q\n' \
		"$BENCH_N" "$BENCH_ONLY" "$BUILD" "$ACCEL" "$LIBVIRT_NOTE" "$COMMIT"
	printf 'LOAD_BEFORE=%q\nLOAD_AFTER=%q\nBUSY_BEFORE=%q\nIMAGE_BUILD_MS=%q\nCOLD_MS=%q\nELAPSED=%q\nRAN=%q\n' \
		"$LOAD_BEFORE" "$LOAD_AFTER" "$BUSY_BEFORE" "$IMAGE_BUILD_MS" "$COLD_MS" "$ELAPSED" "$ran"
	printf 'DATE=%q\nCPU_MODEL=%q\nCORES=%q\nMEM=%q\nKERNEL=%q\nQEMU_VERSION=%q\nLIBVIRT_VERSION=%q\n' \
		"$(date -u '+%Y-%m-%d %H:%M UTC')" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)" \
		"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)" \
		"$(qemu-system-x86_64 --version | head -n 1 | sed 's/QEMU emulator version //')" "$(virsh --version 2>/dev/null || echo none)"
} >"$BENCH_DIR/out/meta.env"
bash "$BENCH_SRC/report.sh" "$BENCH_DIR" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS" || die "cannot write $RESULTS"
step "wrote $RESULTS ($((ELAPSED / 60)) min $((ELAPSED % 60)) s)"
