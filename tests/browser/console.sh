#!/usr/bin/env bash
# browser: the web console in Debian's chromium, headless, driven by
# playwright-core (tests/browser/console.mjs) against a real nubod with a
# real tiny VM under QEMU. Logs in (a wrong token refused), creates a VM
# from the form and sees it reach running without a reload, types uname -a
# in its serial console and reads Linux, has a second viewer watch, checks
# 401 without a session and 403 without the CSRF token, stops the VM from
# its page and logs out. Screenshots of every page go to
# NUBO_TEST_OUT (default build/test-output)/browser/. Needs root.
set -u
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
SHOTS=${NUBO_TEST_OUT:-$PWD/build/test-output}/browser
mkdir -p "$SHOTS" && rm -f "$SHOTS"/*.png

[ -d "$here/node_modules/playwright-core" ] ||
	{ ok 1 "playwright-core is installed (scripts/install-deps.sh runs npm ci in tests/browser)"; exit 1; }
command -v chromium >/dev/null || { ok 1 "Debian's chromium is installed (scripts/install-deps.sh)"; exit 1; }
[ -f "$NUBO_BIN/../../web/index.html" ] || [ -f "${NUBO_WEB_INDEX:-build/web/index.html}" ] ||
	{ ok 1 "the web console is built (web/build.sh)"; exit 1; }

# Below the kernel's ephemeral range (32768-60999), where a client's socket
# could hold the port between this check and nubod's bind.
free_port() {
	local p
	for p in $(shuf -i 20000-32000 -n 100); do
		ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}
# Another program may take a free port before nubod binds it: then another.
started=1
for try in 1 2 3 4 5; do
	PORT=$(free_port)
	nubod_start --listen-http "127.0.0.1:$PORT" >/dev/null && { started=0; break; }
	grep -q 'Address already in use' "$T_LOG" || break
done
ok $started "nubod starts with --listen-http 127.0.0.1:$PORT"
[ $started = 0 ] || { sed 's/^/#   /' "$T_LOG" | tail -20; exit 1; }
out=$("$NUBO" image build tiny --wait 2>&1)
ok $? "nubo image build tiny --wait" "$out"
SECRET=$("$NUBO" token create browser --json | jq -r .secret)
ssh-keygen -q -t ed25519 -N "" -C browser -f "$T_DIR/id" || exit 1

VM=web-$$
nubo_path=$(realpath "$NUBO")
while IFS=$'\t' read -r tag rc what detail; do
	if [ "$tag" = CHECK ]; then
		ok "$rc" "$what" "$detail"
	else
		printf '# %s\n' "$tag${rc:+ $rc}${what:+ $what}${detail:+ $detail}"
	fi
done < <(cd "$here" && URL="http://127.0.0.1:$PORT" SECRET="$SECRET" VM="$VM" KEY_PUB="$(cat "$T_DIR/id.pub")" \
	SSH_KEY="$T_DIR/id" NUBO="$nubo_path" SHOTS="$SHOTS" XDG_CONFIG_HOME="$XDG_CONFIG_HOME" \
	timeout 200 node console.mjs 2>&1)

shots=$(ls "$SHOTS"/*.png 2>/dev/null | wc -l)
[ "$shots" -ge 7 ]
ok $? "a screenshot of every page is in $SHOTS ($shots)"
is "$(t_sql 'SELECT count(*) FROM sessions')" 0 "the logout left no session in the store"
like "$("$NUBO" vm console "$VM" --log)" 'Linux version' "the serial log is kept as before (console.log, beside the socket)"
like "$("$NUBO" vm console "$VM" --log)" "$VM login: root" "and it holds what was typed through the browser's console"
out=$("$NUBO" vm delete "$VM" --wait 2>&1)
ok $? "the VM is deleted" "$out"
