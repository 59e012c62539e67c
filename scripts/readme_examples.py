#!/usr/bin/env python3
"""readme_examples.py — the README's C++ examples as source files.

Usage: readme_examples.py README.md OUT1.cpp OUT2.cpp ...

Writes the README's fenced C++ blocks (```cpp or ```c++), in order, to the
given files, one block each. Fails if the README has a different number of
blocks than files were given: the build (tests/meson.build) names each
example, so adding or removing one means updating that list too.
"""
import re
import sys


def main() -> int:
    readme, outs = sys.argv[1], sys.argv[2:]
    with open(readme, encoding="utf-8") as f:
        blocks = re.findall(r"^```(?:cpp|c\+\+)\n(.*?)^```", f.read(), re.S | re.M)
    if len(blocks) != len(outs):
        print(f"readme_examples.py: {readme} has {len(blocks)} C++ examples, the build expects {len(outs)} "
              f"(update the list in tests/meson.build)", file=sys.stderr)
        return 1
    for block, out in zip(blocks, outs):
        with open(out, "w", encoding="utf-8") as f:
            f.write(f"// Generated from {readme} by scripts/readme_examples.py: edit the README.\n")
            f.write(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
