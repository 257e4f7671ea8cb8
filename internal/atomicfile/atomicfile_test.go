package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteStaleTemps checks that a write replaces the file, and
// removes a temporary file left by an earlier process but not one newer
// than this process.
func TestWriteStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "h.json")
	stale := filepath.Join(dir, ".h.json.tmp-123")
	fresh := filepath.Join(dir, ".h.json.tmp-456")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := started.Add(-time.Hour)
	if err := os.Chtimes(stale, past, past); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"one", "two"} {
		if err := Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Errorf("content %q", b)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file not removed: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a temporary file newer than this process was removed: %v", err)
	}
}
