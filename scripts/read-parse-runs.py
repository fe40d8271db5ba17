#!/usr/bin/env python3
"""The floor `verify` is held to (issue 20): only read every file of every run below a
folder and JSON-parse the .json/.jsonl ones, grading nothing. `verify` of the same folder
should take no longer than this.

    python3 scripts/read-parse-runs.py FOLDER
"""
import json
import os
import sys


def main(root):
    files = parsed = 0
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                data = f.read()
            files += 1
            if name.endswith(".json"):
                try:
                    json.loads(data)
                    parsed += 1
                except ValueError:
                    pass
            elif name.endswith(".jsonl"):
                for line in data.splitlines():
                    try:
                        json.loads(line)
                    except ValueError:
                        pass
                parsed += 1
    print(f"{files} files read, {parsed} parsed", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
