// Command ckverify checks gosde checkpoints and histories (used by
// scripts/kill-test.sh). For each argument, a checkpoint file or a
// directory (whose checkpoint-*.ckpt and *.ckpt files are all checked), it
// reads and verifies the file (magic, version, checksum, structure) and
// prints "kind step rows" for the newest one. With -contiguous the history
// must hold every step 1..step; with -history FILE that history.json must
// be valid and agree with the newest checkpoint's history on every row it
// has. It exits 1 with a message naming the file on the first failure, 2
// when no checkpoint was found.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gosde/gosde/internal/checkpoint"
)

func main() {
	contiguous := flag.Bool("contiguous", false, "require the history to hold every step 1..step")
	history := flag.String("history", "", "a history.json that must agree with the newest checkpoint")
	flag.Parse()
	if err := run(flag.Args(), *contiguous, *history); err != nil {
		fmt.Fprintln(os.Stderr, "ckverify:", err)
		if strings.Contains(err.Error(), "no checkpoint") {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(args []string, contiguous bool, history string) error {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		m, _ := filepath.Glob(filepath.Join(a, "*.ckpt"))
		files = append(files, m...)
		if bin := filepath.Join(a, "checkpoint.bin"); fileExists(bin) {
			files = append(files, bin)
		}
	}
	if len(files) == 0 {
		return fmt.Errorf("no checkpoint in %v", args)
	}
	var newest *checkpoint.Checkpoint
	for _, f := range files {
		ck, err := checkpoint.Read(f)
		if err != nil {
			return err
		}
		if newest == nil || ck.Step > newest.Step {
			newest = ck
		}
		if contiguous {
			h := ck.History
			if h.Len() != ck.Step || (h.Len() > 0 && (h.Steps[0] != 1 || h.Steps[h.Len()-1] != ck.Step)) {
				return fmt.Errorf("%s: step %d but the history has %d rows (steps %v…)", f, ck.Step, h.Len(), h.Steps[:min(3, h.Len())])
			}
		}
	}
	if history != "" && fileExists(history) {
		h, err := checkpoint.ReadHistory(history)
		if err != nil {
			return err
		}
		if err := agrees(h, newest.History); err != nil {
			return fmt.Errorf("%s: %w", history, err)
		}
	}
	fmt.Printf("%s %d %d\n", newest.Kind, newest.Step, newest.History.Len())
	return nil
}

// agrees checks that h's rows are rows of ck (same steps and values, NaN
// equal to NaN).
func agrees(h, ck checkpoint.History) error {
	if h.Len() > ck.Len() {
		return fmt.Errorf("%d rows, more than the checkpoint's %d", h.Len(), ck.Len())
	}
	for i, s := range h.Steps {
		if ck.Steps[i] != s {
			return fmt.Errorf("row %d is step %d, the checkpoint's is step %d", i, s, ck.Steps[i])
		}
		for _, c := range h.Columns {
			v, w := c.Values[i], ck.Column(c.Name)
			if w == nil {
				return fmt.Errorf("column %q is not in the checkpoint", c.Name)
			}
			if v != w[i] && !(math.IsNaN(v) && math.IsNaN(w[i])) {
				return fmt.Errorf("%s at step %d: %g, the checkpoint has %g", c.Name, s, v, w[i])
			}
		}
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
