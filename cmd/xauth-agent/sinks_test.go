package main

import (
	"context"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

// A reload keeps the file sinks whose settings did not change: their file
// is not rewritten and their on_change does not run again. A changed sink
// is a new one.
func TestFileSinksKeptAcrossReload(t *testing.T) {
	dir := t.TempDir()
	a := config.FileSink{Path: filepath.Join(dir, "a"), Mode: 0o600, UID: -1, GID: -1, Format: config.FormatToken,
		OnChange: []string{"/bin/true"}}
	b := config.FileSink{Path: filepath.Join(dir, "b"), Mode: 0o600, UID: -1, GID: -1, Format: config.FormatToken}
	fs := newFileSinks(context.Background(), zaptest.NewLogger(t), nil)
	first, err := fs.checkedSinks(&config.Config{Sinks: []config.FileSink{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range first {
		if err := s.Write(context.Background(), token.Token{Token: "hvs.one"}); err != nil {
			t.Fatal(err)
		}
	}
	fs.wait()

	b2 := b
	b2.Mode = 0o640
	a2 := a
	a2.OnChange = []string{"/bin/true"} // an equal list, not the same slice
	built, err := fs.checked(&config.Config{Sinks: []config.FileSink{b2, a2}})
	if err != nil {
		t.Fatal(err)
	}
	second := fs.use(built)
	if second[1] != first[0] {
		t.Error("an unchanged sink was rebuilt")
	}
	if second[0] == first[1] {
		t.Error("a sink with a new mode was kept")
	}
	if fs.inUse[1].runner == nil || fs.inUse[1].runner != built[1].runner {
		t.Error("the unchanged sink lost its on_change runner")
	}
}
