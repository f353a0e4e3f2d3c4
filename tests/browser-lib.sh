# Sourced by tests/browser/*.sh after tests/lib.sh (kept out of that folder,
# whose every .sh the runner runs as a test): the checks that the
# tools are there, a nubod with the console on a free loopback port, and
# node's CHECK lines turned into TAP.

here=$(cd "$(dirname "$0")" && pwd)
SHOTS=${NUBO_TEST_OUT:-$PWD/build/test-output}/browser
mkdir -p "$SHOTS"

[ -d "$here/node_modules/playwright-core" ] ||
	{ ok 1 "playwright-core is installed (scripts/install-deps.sh runs npm ci in tests/browser)"; exit 1; }
command -v chromium >/dev/null || { ok 1 "Debian's chromium is installed (scripts/install-deps.sh)"; exit 1; }
[ -f "$NUBO_BIN/../../web/index.html" ] || [ -f "${NUBO_WEB_INDEX:-build/web/index.html}" ] ||
	{ ok 1 "the web console is built (web/build.sh)"; exit 1; }

# console_nubod_start [nubod flags]: nubod with --listen-http on a free
# port, PORT. Another program may take the port before nubod binds it: then
# another.
console_nubod_start() {
	local started=1 try
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		nubod_start --listen-http "127.0.0.1:$PORT" "$@" >/dev/null && { started=0; break; }
		grep -q 'Address already in use' "$T_LOG" || break
	done
	ok $started "nubod starts with --listen-http 127.0.0.1:$PORT"
	[ $started = 0 ] || { sed 's/^/#   /' "$T_LOG" | tail -20; exit 1; }
}

# run_node SECONDS SCRIPT.mjs: runs it in tests/browser (its environment as
# exported) and turns its "CHECK<TAB>rc<TAB>what<TAB>detail" lines into TAP;
# other lines become comments. A script that stops before its end (an
# exception, the timeout) with no failed check yet fails all the same.
run_node() {
	local tag rc what detail failed=0
	while IFS=$'\t' read -r tag rc what detail; do
		if [ "$tag" = CHECK ]; then
			ok "$rc" "$what" "$detail"
			[ "$rc" = 0 ] || failed=$((failed + 1))
		else
			printf '# %s\n' "$tag${rc:+ $rc}${what:+ $what}${detail:+ $detail}"
		fi
	done < <(cd "$here" && URL="http://127.0.0.1:$PORT" SHOTS="$SHOTS" timeout "$1" node "$2" 2>&1)
	wait $!
	rc=$?
	[ "$rc" = 0 ] || [ "$failed" -gt 0 ] || ok 1 "$2 runs to its end" "exit status $rc"
}
