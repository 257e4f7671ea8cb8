// Package testfiles holds the file checks that gosde's tests share: a
// snapshot of a directory's files, and a check that a directory still
// holds exactly a snapshot's files, byte for byte (nothing a user saved
// is lost or changed).
package testfiles

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Snapshot returns the names and contents of dir's files.
func Snapshot(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// Unchanged fails t unless dir holds exactly the files of before, with the
// same contents.
func Unchanged(t testing.TB, dir string, before map[string][]byte) {
	t.Helper()
	after := Snapshot(t, dir)
	if len(after) != len(before) {
		t.Errorf("%s: %d files before, %d after", dir, len(before), len(after))
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("%s changed or vanished", name)
		}
	}
}
