#!/bin/sh
# Builds the web console into OUTDIR: app.js, terminal.js (xterm.js from
# node_modules, installed by scripts/install-deps.sh from package-lock.json;
# app.js loads it when a console opens) and app.css bundled by esbuild, and
# index.html as it is.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
esbuild="$here/node_modules/.bin/esbuild"
if [ ! -x "$esbuild" ]; then
	echo "web/build.sh: $esbuild is missing: run scripts/install-deps.sh (npm ci in web/)" >&2
	exit 1
fi
mkdir -p "$out"
"$esbuild" "$here/src/app.js" --bundle --format=esm --target=es2020 --minify \
	--log-level=warning --external:/terminal.js --outfile="$out/app.js"
"$esbuild" "$here/src/terminal.js" --bundle --format=esm --target=es2020 --minify \
	--log-level=warning --outfile="$out/terminal.js"
"$esbuild" "$here/src/app.css" --bundle --minify --log-level=warning --outfile="$out/app.css"
cp "$here/src/index.html" "$out/index.html"
