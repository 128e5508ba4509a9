#!/usr/bin/env python3
"""Checks that each Dockerfile's build stage copies every folder the programs are built from
and installs every library package they are built against.

The build stage copies the sources folder by folder, so that a change to tests or docs does
not rebuild the programs, and installs its own list of Debian packages. The test command
builds the images from programs it has already compiled (scripts/build-images.sh --prebuilt),
so it never runs that stage: a module folder added to the top-level CMakeLists.txt and missing
from a Dockerfile's COPY lines, or a library added to scripts/install-deps.sh and missing from
a Dockerfile's apt-get line, would break only a build of the images from source. This check
fails first.

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


def linked(root):
    """The packages scripts/install-deps.sh lists under its "# libraries the programs link"
    comment, up to the next comment line."""
    m = re.search(r"^\s*# libraries the programs link\n((?:\s*#[^\n]*\n)*)((?:[ \t]*[^#\s)][^\n]*\n)+)",
                  (root / "scripts" / "install-deps.sh").read_text(), re.M)
    if not m:
        raise SystemExit("no '# libraries the programs link' group in scripts/install-deps.sh: "
                         "this check no longer reads it right")
    return set(m.group(2).split())


def installed(dockerfile):
    """The packages the build stage's `apt-get install` names (options left out)."""
    stage = re.search(r"^FROM\s+\S+\s+AS\s+build\s*\n(.*?)(?=^FROM\s)", dockerfile.read_text(), re.M | re.S)
    line = re.search(r"apt-get install\s((?:[^\n]*\\\n)*[^\n]*)", stage.group(1)) if stage else None
    if not line:
        return set()
    words = line.group(1).replace("\\\n", " ").split("&&")[0].split()
    return {w for w in words if not w.startswith("-")}


def main(root):
    root = Path(root)
    want = needed(root)
    libraries = linked(root)
    dockerfiles = sorted(root.glob("Dockerfile.*"))
    wrong = [] if dockerfiles else ["no Dockerfile.* at the repository root"]
    for dockerfile in dockerfiles:
        for p in sorted(libraries - installed(dockerfile)):
            wrong.append(f"{dockerfile.name}: the build stage does not apt-get install {p}, "
                         "which scripts/install-deps.sh lists as a library the programs link")
        have = copied(dockerfile)
        for d in sorted(want - have):
            wrong.append(f"{dockerfile.name}: no `COPY {d} /src/{d}` line, and CMakeLists.txt adds {d}/")
        for d in sorted(have - want):
            if not (root / d).is_dir():
                wrong.append(f"{dockerfile.name}: copies {d}, which is not a folder of the repository")
    for line in wrong:
        print(line)
    print(f"{len(want)} folders needed ({', '.join(sorted(want))}), {len(libraries)} library packages; "
          f"{len(wrong)} problems")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]))
