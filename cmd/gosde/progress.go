package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether f is a character device (a terminal): where
// it is not (a file, a pipe), progress is printed as plain lines with no
// carriage returns or escape codes.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "name [====    ] step/total text elapsed" on one line
// of a terminal, redrawn at most every 250 ms; on anything else it prints a
// plain line at each tenth of the total and at the end.
type progressBar struct {
	w         io.Writer
	term      bool
	name      string
	total     int
	start     time.Time
	last      time.Time
	lastTenth int
	drawn     bool
}

func newProgressBar(f *os.File, name string, total int) *progressBar {
	return &progressBar{w: f, term: isTerminal(f), name: name, total: total, start: time.Now(), lastTenth: -1}
}

// update shows the bar at step with the text after it.
func (p *progressBar) update(step int, text string) {
	now := time.Now()
	el := now.Sub(p.start).Seconds()
	if !p.term {
		tenth := 10
		if p.total > 0 {
			tenth = min(10, step*10/p.total)
		}
		if tenth == p.lastTenth && step != p.total {
			return
		}
		p.lastTenth = tenth
		fmt.Fprintf(p.w, "%s %d/%d %s %.1fs\n", p.name, step, p.total, text, el)
		return
	}
	if step != p.total && now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last, p.drawn = now, true
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = min(1, float64(step)/float64(p.total))
	}
	fill := int(frac * width)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %s %.1fs", p.name, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), step, p.total, text, el)
}

// done ends the bar's line in a terminal.
func (p *progressBar) done() {
	if p.term && p.drawn {
		fmt.Fprintln(p.w)
	}
}
