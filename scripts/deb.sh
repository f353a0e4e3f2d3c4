#!/usr/bin/env bash
# make deb: builds nubo's Debian package from this tree (committed or not)
# into BUILD/deb/, with Debian's own tools (dpkg-buildpackage, debhelper).
# The tree is copied first: dpkg-buildpackage writes the .deb beside the
# source directory, and a worktree's parent is shared with other checkouts.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build}/deb")
version=$(dpkg-parsechangelog -S Version)
rm -rf "$out"
mkdir -p "$out/nubo-$version"
git ls-files -z --cached --others --exclude-standard | grep -zv '^debian/\.\|^build' |
	tar --null -T - -cf - | tar -xf - -C "$out/nubo-$version"
# The web console is bundled from web/node_modules (npm ci from its lockfile,
# scripts/install-deps.sh): the package build itself reaches no registry.
if [ ! -x web/node_modules/.bin/esbuild ]; then
	echo "nubo: web/node_modules is missing: run scripts/install-deps.sh (npm ci in web/) first" >&2
	exit 1
fi
cp -a web/node_modules "$out/nubo-$version/web/"
echo "==> building nubo $version in $out (log: $out/build.log)"
if ! (cd "$out/nubo-$version" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
	tail -30 "$out/build.log" >&2
	echo "nubo: the package build failed; the whole log is $out/build.log" >&2
	exit 1
fi
rm -rf "$out/nubo-$version"
deb=$(ls "$out"/nubo_"$version"_*.deb)
echo "==> $deb"
echo "    install it with: apt install $deb"
