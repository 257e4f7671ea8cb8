// Package progress shows the progress of a training loop of known length:
// a bar, the step count, the loss (or another value), the time per step
// and the estimated time left.
//
// Inside a GoNB notebook the display is one HTML block that is updated in
// place (gonbui.UpdateHTML); elsewhere it is text on standard error: one
// line rewritten with a carriage return on a terminal, and separate lines
// every tenth of the run (or every 30 s) when the output is a file or a
// pipe. No terminal escape codes are written.
//
//	bar := progress.New("training", steps)
//	for step := 1; step <= steps; step++ {
//		loss := train()
//		bar.Update(step, loss)
//	}
//
// The time per step is measured from the first step's end, so that the
// first step's one-off compilation does not distort the estimate.
package progress

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
)

// Bar is the progress display of one loop. Create it with [New] or
// [NewWriter]; it is not safe for concurrent use.
type Bar struct {
	// Metric names the value passed to Update ("loss" by default).
	Metric string
	// Interval is the least time between two displays (default 0.5 s in
	// a notebook and on a terminal, 30 s for other writers, which also
	// display at every tenth of the run).
	Interval time.Duration

	title string
	note  string
	total int
	now   func() time.Time
	show  func(text, htmlText string, final bool)
	lines bool // plain lines (not a terminal, not a notebook)

	start      time.Time
	firstAt    time.Time // end of the first update's step
	firstStep  int
	step       int
	shownStep  int     // step at the last display
	sum        float64 // metric values since the last display
	n          int
	last       float64 // the mean shown last
	lastShow   time.Time
	lastTenths int
	finished   bool
}

// New returns a bar for total steps titled title, shown in the notebook
// when running under GoNB and on standard error otherwise. The clock
// starts now.
func New(title string, total int) *Bar {
	if gonbui.IsNotebook {
		id := "gosde_progress_" + gonbui.UniqueId()
		b := newBar(title, total, time.Now)
		b.show = func(_, htmlText string, _ bool) { gonbui.UpdateHTML(id, htmlText) }
		b.Interval = 500 * time.Millisecond
		return b
	}
	return NewWriter(title, total, os.Stderr)
}

// NewWriter returns a bar that writes text to w: a line rewritten in place
// when w is a terminal, otherwise separate lines (see [Bar.Interval]).
func NewWriter(title string, total int, w io.Writer) *Bar {
	b := newBar(title, total, time.Now)
	if isTerminal(w) {
		b.Interval = 500 * time.Millisecond
		b.show = func(text, _ string, final bool) {
			end := ""
			if final {
				end = "\n"
			}
			fmt.Fprintf(w, "\r%s%s", text, end)
		}
	} else {
		b.lines = true
		b.Interval = 30 * time.Second
		b.show = func(text, _ string, _ bool) { fmt.Fprintln(w, text) }
	}
	return b
}

func newBar(title string, total int, now func() time.Time) *Bar {
	if total < 1 {
		panic(fmt.Sprintf("progress.New: total=%d steps, want ≥ 1", total))
	}
	return &Bar{Metric: "loss", title: title, total: total, now: now, start: now(), lastTenths: -1, last: math.NaN()}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update records that step steps (1 … total) are done and value is the
// latest step's metric (NaN to show none), and refreshes the display when
// Interval has passed since the last one, at every tenth of the run for
// line output, and always at the first and the last step. The value shown
// is the mean of the values since the last display.
func (b *Bar) Update(step int, value float64) {
	if b.finished {
		return
	}
	t := b.now()
	if b.firstAt.IsZero() {
		b.firstAt, b.firstStep = t, step
	}
	b.step = step
	if !math.IsNaN(value) {
		b.sum += value
		b.n++
	}
	tenths := 10 * step / b.total
	due := step == b.firstStep || step >= b.total || t.Sub(b.lastShow) >= b.Interval ||
		(b.lines && tenths != b.lastTenths)
	if !due {
		return
	}
	b.display(t, step >= b.total)
}

// Done shows the final state (when the last Update did not reach total,
// the run is reported as stopped at that step).
func (b *Bar) Done() {
	if !b.finished {
		b.display(b.now(), true)
	}
}

// SetNote sets a short text shown after the figures from the next display
// on (for example the latest step's other metrics); "" removes it.
func (b *Bar) SetNote(note string) { b.note = note }

// StepTime returns the mean time per step, as of the last display, since
// the end of the first step (since the start while only one step is done).
func (b *Bar) StepTime() time.Duration {
	t, step := b.lastShow, b.shownStep
	if step > b.firstStep && !b.firstAt.IsZero() {
		return t.Sub(b.firstAt) / time.Duration(step-b.firstStep)
	}
	if step > 0 {
		return t.Sub(b.start) / time.Duration(step)
	}
	return 0
}

// ETA returns the estimated time to the last step, as of the last display.
func (b *Bar) ETA() time.Duration {
	return b.StepTime() * time.Duration(max(0, b.total-b.shownStep))
}

func (b *Bar) display(t time.Time, final bool) {
	b.lastShow, b.shownStep = t, b.step
	b.lastTenths = 10 * b.step / b.total
	if b.n > 0 {
		b.last = b.sum / float64(b.n)
	}
	b.sum, b.n = 0, 0
	b.finished = final
	text, htmlText := b.render(t, final)
	b.show(text, htmlText, final)
}

// render returns the display as text and as HTML.
func (b *Bar) render(t time.Time, final bool) (string, string) {
	frac := math.Min(1, float64(b.step)/float64(b.total))
	var parts []string
	parts = append(parts, fmt.Sprintf("%d/%d", b.step, b.total))
	if !math.IsNaN(b.last) {
		parts = append(parts, fmt.Sprintf("%s %.4g", b.Metric, b.last))
	}
	parts = append(parts, fmt.Sprintf("%s/step", formatDuration(b.StepTime())))
	elapsed := t.Sub(b.start)
	if final {
		state := "done"
		if b.step < b.total {
			state = "stopped"
		}
		parts = append(parts, fmt.Sprintf("%s in %s", state, formatDuration(elapsed)))
	} else {
		parts = append(parts, fmt.Sprintf("%s elapsed", formatDuration(elapsed)), "ETA "+formatDuration(b.ETA()))
	}
	if b.note != "" {
		parts = append(parts, b.note)
	}
	info := strings.Join(parts, " · ")
	const width = 24
	full := int(math.Round(frac * width))
	text := fmt.Sprintf("%s [%s%s] %3.0f%% %s", b.title, strings.Repeat("#", full), strings.Repeat(".", width-full), 100*frac, info)
	htmlText := fmt.Sprintf(`<div style="font-family:monospace;white-space:nowrap">%s `+
		`<progress value="%d" max="%d" style="width:16em;vertical-align:middle"></progress> %3.0f%% %s</div>`,
		html.EscapeString(b.title), b.step, b.total, 100*frac, html.EscapeString(info))
	return text, htmlText
}

// formatDuration writes d briefly: "850ms", "12.3s", "4m05s", "2h03m".
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		s := int(d.Round(time.Second).Seconds())
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		m := int(d.Round(time.Minute).Minutes())
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}
