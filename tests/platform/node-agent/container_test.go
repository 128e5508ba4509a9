package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogTailIsThisRunsEndWithinTheKubeletsLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	earlier := "an earlier run's line\n"
	var run strings.Builder
	for i := 0; i < 100; i++ {
		run.WriteString("line ")
		run.WriteString(strings.Repeat("x", i%7))
		run.WriteString("\n")
	}
	run.WriteString("start-up failed: the reason\n")
	if err := os.WriteFile(path, []byte(earlier+run.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logTail(path, int64(len(earlier)))
	lines := strings.SplitAfter(run.String(), "\n")
	want := strings.Join(lines[len(lines)-1-messageLogLines:len(lines)-1], "")
	if got != want {
		t.Fatalf("logTail = %q, want the last %d lines %q", got, messageLogLines, want)
	}
	if strings.Contains(got, "earlier") {
		t.Fatalf("logTail took an earlier run's output: %q", got)
	}

	long := strings.Repeat("y", 3000) + "\nthe last line"
	if err := os.WriteFile(path, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := logTail(path, 0); len(got) != messageLogBytes || !strings.HasSuffix(got, "\nthe last line") {
		t.Fatalf("logTail kept %d bytes ending %q, want the last %d", len(got), got[len(got)-20:], messageLogBytes)
	}
	if got := logTail(path, int64(len(long))); got != "" {
		t.Fatalf("a run that wrote nothing has the tail %q", got)
	}
	if got := logTail(filepath.Join(t.TempDir(), "none.log"), 0); got != "" {
		t.Fatalf("a missing log has the tail %q", got)
	}
}
