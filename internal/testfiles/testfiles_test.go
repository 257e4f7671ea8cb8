package testfiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
}

// Unchanged passes on an untouched directory and reports a changed file, a
// removed file and an added one.
func TestUnchanged(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"a": "1", "b": "2"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := Snapshot(t, dir)
	if len(before) != 2 || string(before["a"]) != "1" {
		t.Fatalf("snapshot %v", before)
	}
	r := &recorder{TB: t}
	Unchanged(r, dir, before)
	if len(r.errs) != 0 {
		t.Fatalf("untouched directory reported: %v", r.errs)
	}
	_ = os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o644)
	_ = os.Remove(filepath.Join(dir, "b"))
	_ = os.WriteFile(filepath.Join(dir, "c"), []byte("3"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "d"), []byte("4"), 0o644)
	r = &recorder{TB: t}
	Unchanged(r, dir, before)
	if got := strings.Join(r.errs, "; "); len(r.errs) != 3 {
		t.Fatalf("want 3 reports (count, a changed, b vanished), got %d: %s", len(r.errs), got)
	}
}
