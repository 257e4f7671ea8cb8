package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Series is a directory of checkpoints named checkpoint-<step>.ckpt, of
// which it keeps the newest Keep written by this process. It never deletes
// or overwrites a file it did not write: checkpoints of earlier runs stay
// until the user removes them.
type Series struct {
	Dir  string
	Keep int // checkpoints of this process kept (≥ 1)
	// written are the files this Series wrote, oldest first.
	written []string
}

// seriesName returns the file name of the checkpoint at step.
func seriesName(step int) string { return fmt.Sprintf("checkpoint-%010d.ckpt", step) }

// seriesStep parses a file name written by seriesName.
func seriesStep(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "checkpoint-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".ckpt")
	if !ok || len(s) != 10 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// List returns the paths of dir's checkpoints, by step, oldest first.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: listing %s: %w", dir, err)
	}
	type item struct {
		step int
		path string
	}
	var items []item
	for _, e := range entries {
		if n, ok := seriesStep(e.Name()); ok && e.Type().IsRegular() {
			items = append(items, item{n, filepath.Join(dir, e.Name())})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].step < items[j].step })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.path
	}
	return out, nil
}

// LoadLatest loads the newest checkpoint of dir (by the step in its name)
// and checks that it holds the model want. It returns nil, nil when dir
// has none (or does not exist). A newest file that is damaged or of another
// model is an error naming it: older checkpoints are not tried in its place,
// and nothing is deleted.
func LoadLatest(dir string, want Identity) (*Checkpoint, error) {
	paths, err := List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	latest := paths[len(paths)-1]
	ck, err := Load(latest, want)
	if err != nil {
		return nil, err
	}
	if n, _ := seriesStep(filepath.Base(latest)); n != ck.Step {
		return nil, fmt.Errorf("checkpoint %s: %w: its name says step %d, it holds step %d", latest, ErrCorrupt, n, ck.Step)
	}
	return ck, nil
}

// Save writes ck as Dir/checkpoint-<step>.ckpt (atomically) and removes the
// oldest checkpoints this Series wrote beyond Keep. A file of that name
// that this Series did not write is not replaced: that is an error.
func (s *Series) Save(ck *Checkpoint) (string, error) {
	if s.Keep < 1 {
		return "", fmt.Errorf("checkpoint.Series: Keep must be ≥ 1, got %d", s.Keep)
	}
	path := filepath.Join(s.Dir, seriesName(ck.Step))
	mine := false
	for _, w := range s.written {
		mine = mine || w == path
	}
	if !mine {
		if _, err := os.Lstat(path); err == nil {
			return "", fmt.Errorf("checkpoint: %s exists and was not written by this run; not replacing it", path)
		}
	}
	if err := Write(path, ck); err != nil {
		return "", err
	}
	if !mine {
		s.written = append(s.written, path)
	}
	for len(s.written) > s.Keep {
		if err := os.Remove(s.written[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return path, fmt.Errorf("checkpoint: removing old checkpoint: %w", err)
		}
		s.written = s.written[1:]
	}
	return path, nil
}

// Written returns the paths of the checkpoints this Series wrote and kept,
// oldest first.
func (s *Series) Written() []string { return append([]string(nil), s.written...) }
