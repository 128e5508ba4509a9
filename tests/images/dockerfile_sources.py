#!/usr/bin/env python3
"""Checks that each Dockerfile's build stage copies every folder the programs are built from.

The build stage copies the sources folder by folder, so that a change to tests or docs does
not rebuild the programs. The test command builds the images from programs it has already
compiled (scripts/build-images.sh --prebuilt), so it never runs that stage: a module folder
added to the top-level CMakeLists.txt and missing from a Dockerfile's COPY lines would break
only a build of the images from source. This check fails first.

Usage: dockerfile_sources.py <repository root>; exit 0 when every Dockerfile is complete."""
import re
import sys
from pathlib import Path


def needed(root):
    """The folders a configure without tests, fuzzers or benchmarks (the build stage's) reads:
    cmake/ and what the top-level CMakeLists.txt adds, but tests/ and bench/."""
    text = (root / "CMakeLists.txt").read_text()
    dirs = re.findall(r"^\s*add_subdirectory\(\s*([\w/.-]+)", text, re.M)
    if not dirs:
        raise SystemExit("no add_subdirectory() in CMakeLists.txt: this check no longer reads it right")
    return {"cmake"} | {d for d in dirs if d.split("/")[0] not in ("tests", "bench")}


def copied(dockerfile):
    """The folders the build stage copies to /src: `COPY <dir> /src/<dir>` lines."""
    return {m.group(1) for m in re.finditer(r"^COPY\s+([\w/.-]+)\s+/src/\1/?\s*$", dockerfile.read_text(), re.M)}


def main(root):
    root = Path(root)
    want = needed(root)
    dockerfiles = sorted(root.glob("Dockerfile.*"))
    wrong = [] if dockerfiles else ["no Dockerfile.* at the repository root"]
    for dockerfile in dockerfiles:
        have = copied(dockerfile)
        for d in sorted(want - have):
            wrong.append(f"{dockerfile.name}: no `COPY {d} /src/{d}` line, and CMakeLists.txt adds {d}/")
        for d in sorted(have - want):
            if not (root / d).is_dir():
                wrong.append(f"{dockerfile.name}: copies {d}, which is not a folder of the repository")
    for line in wrong:
        print(line)
    print(f"{len(want)} folders needed ({', '.join(sorted(want))}); {len(wrong)} problems")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]))
