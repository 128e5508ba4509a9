#!/usr/bin/env python3
"""Prints, for each test that did not pass in a build directory's last ctest run, the lines of
its output that say why (pytest's FAILED and E lines, tracebacks, GoogleTest failures, time
outs), at most MAX_LINES per test, and the last TAIL_LINES lines it wrote (where a test that
timed out stopped).

scripts/test.sh calls it after a failed ctest: the failing test's whole output sits in the
middle of a long log, between tests that finished after it, and an excerpt of the log's
beginning and end (all CI keeps of a failure) missed the reason.

    scripts/failure-digest.py BUILD_DIR
"""
import re
import sys
from pathlib import Path

MAX_LINES = 40
TAIL_LINES = 8
MAX_CHARS = 400
# librdkafka's log lines ("%3|...") name errors it retries; they are not the test's.
WHY = re.compile(r"FAILED|Failure|Error|error:|Traceback|^E\s|timed out|Timeout|Exception|Assertion|"
                 r"Sanitizer|runtime error|Segmentation|Aborted")
TEST = re.compile(r"^\d+/\d+ Test: (.+)$")


def failed_outputs(log_lines):
    """(test name, output lines, status line) for each test of the log that did not pass."""
    name, output, capturing, status_next = None, [], False, False
    for line in log_lines:
        m = TEST.match(line)
        if m:
            name, output, capturing, status_next = m.group(1), [], False, False
        elif line == "Output:":
            capturing = True
        elif line == "<end of output>":
            capturing = False
        elif capturing:
            if output or line.strip("-"):  # ctest's rule under "Output:"
                output.append(line)
        elif line.startswith("Test time ="):
            status_next = True
        elif status_next and line.startswith("Test ") and name is not None:
            status_next = False
            if line != "Test Passed.":
                yield name, output, line
            name = None


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    log = Path(sys.argv[1]) / "Testing" / "Temporary" / "LastTest.log"
    if not log.exists():
        print(f"failure-digest: no {log}")
        return
    lines = log.read_text(errors="replace").splitlines()
    for name, output, status in failed_outputs(lines):
        why = [l for l in output if not l.startswith("%") and not set(l) <= {"-", "="} and WHY.search(l)]
        print(f"==== {name}: {status} ({len(why)} lines say why; the first {min(len(why), MAX_LINES)})")
        for l in why[:MAX_LINES]:
            print(l[:MAX_CHARS])
        print(f"---- the last {TAIL_LINES} lines of its output")
        for l in output[-TAIL_LINES:]:
            print(l[:MAX_CHARS])


if __name__ == "__main__":
    main()
