#!/usr/bin/env bash
# Installs the Debian packages nubo needs to build, run, build its images and
# test itself, if any is missing. Safe to run again: it does nothing when all
# are there. Needs root (apt-get) only when something must be installed.
set -euo pipefail

build=(meson ninja-build pkg-config gcc libc6-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev libsystemd-dev
       libcurl4-openssl-dev libcmocka-dev libgnutls28-dev libpq-dev
       libyaml-dev)   # stack files (src/cli/stackfile.c)
# The web console's bundle (web/build.sh: esbuild and xterm.js from
# web/package-lock.json) needs node and npm: Debian's nodejs and npm, unless
# a nodejs that carries its own npm is installed already.
command -v node >/dev/null && command -v npm >/dev/null || build+=(nodejs npm)
package=(debhelper dpkg-dev fakeroot)   # make deb (dpkg-buildpackage, dh)
runtime=(qemu-system-x86 qemu-utils dnsmasq-base dnsmasq-utils nftables conntrack iproute2 genisoimage openssh-client procps)
images=(busybox-static dropbear-bin kmod cpio e2fsprogs gzip debootstrap gpgv debian-archive-keyring zstd lz4 xz-utils binutils util-linux)
tests=(curl jq sqlite3 socat openssl clang libclang-rt-dev   # tests/fuzz: clang, and libFuzzer and the sanitizers (libclang-rt-14-dev)
       postgresql    # the api-pg suite's private cluster (tests/pg.sh: initdb, pg_ctl in /usr/lib/postgresql/15/bin)
       python3       # tests/api/flood.py: idle and trickling connections for security.sh
       python3-jsonschema   # tests/api/openapi_check.py: examples and answers against src/api/openapi.json
       python3-prometheus-client   # tests/api/metrics.sh: GET /metrics through Prometheus's own parser
       systemd       # tests/e2e/package.sh: systemd-analyze verify of the unit
       chromium chromium-driver fonts-dejavu-core)   # tests/browser: headless chromium, driven by playwright-core

# Members of the system group nubo may use nubod's unix socket without root.
if ! getent group nubo >/dev/null; then
	if [ "$(id -u)" -eq 0 ]; then
		groupadd --system nubo && echo "==> created the system group nubo (its members may use nubod's socket)"
	else
		echo "nubo: the group nubo does not exist; create it as root: groupadd --system nubo" >&2
	fi
fi

# Every QEMU drops to this unprivileged user (nubod's qemu_user setting).
qemu_user=${NUBO_QEMU_USER:-nubo-qemu}
ensure_qemu_user() {
	id -u "$qemu_user" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "nubo needs the system user $qemu_user; as root: useradd --system --no-create-home --shell /usr/sbin/nologin $qemu_user" >&2
		return 1
	fi
	useradd --system --no-create-home --shell /usr/sbin/nologin "$qemu_user"
	echo "==> created the system user $qemu_user"
}

# The npm packages of the web console (web/), of its browser tests
# (tests/browser/) and Redocly CLI, which lints src/api/openapi.json
# (tools/openapi/, for tests/api/openapi.sh), exactly as their
# package-lock.json say. Again only when
# node_modules is missing or older than its lockfile.
npm_deps() {
	local d
	for d in web tests/browser tools/openapi; do
		local dir
		dir="$(cd "$(dirname "$0")/.." && pwd)/$d"
		[ -f "$dir/package-lock.json" ] || continue
		if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
			echo "==> npm ci in $d"
			(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || return 1
			touch "$dir/node_modules"
		fi
	done
}

missing=()
for p in "${build[@]}" "${package[@]}" "${runtime[@]}" "${images[@]}" "${tests[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	ensure_qemu_user
	npm_deps
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "nubo needs these Debian packages: ${missing[*]}" >&2
	echo "install them as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "==> installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "==> packages installed"
ensure_qemu_user
npm_deps
