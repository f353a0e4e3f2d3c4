#!/usr/bin/env python3
"""Writes a JSON file into a C source as a byte array, so that nubod serves it
from its own binary (meson runs this at build time; src/api/meson.build).

    embed-json.py INPUT.json OUTPUT.c SYMBOL

OUTPUT.c defines `const char SYMBOL[]` (the bytes, NUL-terminated) and
`const size_t SYMBOL_len` (without the NUL), declared in api-priv.h. A file
that is not valid JSON stops the build, naming the line and column.
"""
import json
import sys


def main():
    src, out, symbol = sys.argv[1:4]
    with open(src, "rb") as f:
        data = f.read()
    try:
        json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        sys.exit(f"{src}: not valid JSON: {e}")
    lines = [f"/* Made by scripts/embed-json.py from {src.split('/')[-1]} at build time: edit that file. */",
             '#include "api/api-priv.h"', "", f"const char {symbol}[] = {{"]
    for i in range(0, len(data), 16):
        lines.append("\t" + ", ".join(f"0x{b:02x}" for b in data[i:i + 16]) + ",")
    lines.append("\t0x00,")
    lines.append("};")
    lines.append(f"const size_t {symbol}_len = {len(data)};")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
