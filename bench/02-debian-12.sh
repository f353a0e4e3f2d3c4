#!/usr/bin/env bash
# Benchmark 2: request → SSH-ready for debian-12, against plain QEMU and
# libvirt: benchmark 1's script on another image. Skipped (with a note in
# RESULTS.md) while the debian-12 recipe (images/debian-12) does not exist.
set -uo pipefail
. "$BENCH_SRC/lib.sh"

if [ ! -f "$REPO/images/debian-12/build.sh" ]; then
	say "images/debian-12 does not exist: benchmark 2 skipped"
	{
		echo "## 2. Request → SSH-ready, debian-12"
		echo
		echo "Not measured: this tree has no debian-12 recipe (images/debian-12) yet."
		echo "\`make bench\` measures it, like benchmark 1, once the recipe exists."
	} >"$BENCH_DIR/out/02-ssh-ready.md"
	exit 0
fi
[ -n "${BENCH_REPORT_ONLY:-}" ] && BENCH_IMAGE=debian-12 BENCH_TAG=02 exec bash "$BENCH_SRC/01-ssh-ready.sh"
t=$(now_ms)
if [ "$(api_get /v1/images/debian-12 2>/dev/null | jq -r .state)" != ready ]; then
	"$NUBO" image build debian-12 --wait >"$BENCH_DIR/logs/image-build-debian-12.log" 2>&1 ||
		{ tail -5 "$BENCH_DIR/logs/image-build-debian-12.log" >&2; die "nubo image build debian-12 failed"; }
fi
say "debian-12 image built in $((($(now_ms) - t) / 1000)) s"
BENCH_IMAGE=debian-12 BENCH_TAG=02 exec bash "$BENCH_SRC/01-ssh-ready.sh"
