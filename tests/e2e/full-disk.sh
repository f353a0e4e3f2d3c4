#!/usr/bin/env bash
# e2e: a full disk. nubod's state lives on a 48 MiB file system; an import
# that does not fit fails with a clear error and leaves no partial file, and
# nubod goes on working.
set -u
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T_STATE"
mount -t tmpfs -o size=48m nubo-test "$T_STATE" || { ok 1 "a small file system for the state"; exit 1; }
T_MOUNTS+=("$T_STATE")
nubod_start || { ok 1 "nubod starts"; exit 1; }
ok 0 "nubod starts on a 48 MiB state directory"

head -c 80M /dev/urandom >"$T_DIR/big.raw"
out=$("$NUBO" image import big --file "$T_DIR/big.raw" --wait 2>&1)
is "$?" 1 "an import that does not fit fails"
like "$out" "No space left on device" "the error says the disk is full"
is "$(find "$T_STATE/images" -type f | wc -l)" 0 "no partial file is left"
"$NUBO" image show big >/dev/null 2>&1
ok $((! $?)) "no image is left"
head -c 8M /dev/urandom >"$T_DIR/small.raw"
out=$("$NUBO" image import small --file "$T_DIR/small.raw" --wait 2>&1)
ok $? "an import that fits still works" "$out"
