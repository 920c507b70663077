"""Removes stale test binaries from a cargo deps directory.

Reads `cargo test --no-run --message-format=json` on stdin: the test binaries it
names are current and stay; any other `<name>-<hash>` executable of the same
name in the directory is an older build and goes. A name that is also a binary
target's (accs_sim is both a lib test and a bin) is left alone, so no current
binary is ever removed. Used by .ci/run to keep its cache from growing.
"""

import json
import os
import re
import sys

deps = sys.argv[1]
keep, tests, bins = set(), set(), set()
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact":
        continue
    if "bin" in msg["target"]["kind"]:
        bins.add(msg["target"]["name"].replace("-", "_"))
    exe = msg.get("executable")
    if msg["profile"]["test"] and exe:
        keep.add(os.path.basename(exe))
        tests.add(os.path.basename(exe).rsplit("-", 1)[0])

removed = 0
for entry in os.listdir(deps):
    m = re.fullmatch(r"(.+)-[0-9a-f]{16}", entry)
    path = os.path.join(deps, entry)
    if not m or entry in keep or m.group(1) not in tests - bins:
        continue
    if os.path.isfile(path) and os.access(path, os.X_OK):
        removed += os.path.getsize(path)
        os.remove(path)
        for side in (".d", ".pdb"):
            if os.path.exists(path + side):
                os.remove(path + side)
print(f"ci: removed {removed / 2**30:.1f} GiB of stale test binaries")
