// Package atomicfile writes files so that a reader, or a process started
// after a crash or a kill, sees either the old content or all of the new:
// every file gosde writes (checkpoints, histories, figures, reports) goes
// through Write.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// started is when this process loaded the package: temporary files older
// than this were left by an earlier, interrupted process.
var started = time.Now()

// Write writes data to path so that path holds either its old
// content or all of data, whatever happens: a temporary file in the same
// directory is written, synced, renamed over path, and the directory is
// synced. Temporary files of path left by an interrupted earlier process
// are removed afterwards.
func Write(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // not supported everywhere; the rename is what matters
		_ = d.Close()
	}
	removeStaleTemps(dir, base)
	return nil
}

// removeStaleTemps removes dir/.base.tmp-* files last modified before this
// process started (with 2 s to spare for coarse file times): the remains of
// writes interrupted by a crash or a kill
// (never a complete file, so never a checkpoint).
func removeStaleTemps(dir, base string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+escapeGlob(base)+".tmp-*"))
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.ModTime().Before(started.Add(-2*time.Second)) {
			_ = os.Remove(m)
		}
	}
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}
