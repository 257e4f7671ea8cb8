package progress

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// fake is a bar on a fake clock that records what it shows.
type fake struct {
	t     time.Time
	texts []string
	htmls []string
	final []bool
}

func newFake(total int) (*Bar, *fake) {
	f := &fake{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newBar("train", total, func() time.Time { return f.t })
	b.Interval = time.Second
	b.show = func(text, htmlText string, final bool) {
		f.texts, f.htmls, f.final = append(f.texts, text), append(f.htmls, htmlText), append(f.final, final)
	}
	return b, f
}

// TestStepTimeAndETA runs 100 steps: a first step of 5 s (compilation) and
// then 100 ms each. The time per step must leave out the first step and
// the ETA must be (steps left) × 100 ms.
func TestStepTimeAndETA(t *testing.T) {
	b, f := newFake(100)
	f.t = f.t.Add(5 * time.Second)
	b.Update(1, 2.0)
	if len(f.texts) != 1 {
		t.Fatalf("first step: %d displays, want 1", len(f.texts))
	}
	for step := 2; step <= 40; step++ {
		f.t = f.t.Add(100 * time.Millisecond)
		b.Update(step, 1.0)
	}
	if got := b.StepTime(); got != 100*time.Millisecond {
		t.Errorf("StepTime = %v, want 100ms (first step excluded)", got)
	}
	// The last display was at step 31 (1 s after the first); ETA as of then: 69 steps × 100 ms.
	if b.step != 40 || b.ETA() != 69*100*time.Millisecond {
		t.Errorf("ETA = %v, want 6.9s (as of the display at step 31)", b.ETA())
	}
	last := f.texts[len(f.texts)-1]
	for _, want := range []string{"31/100", "loss 1 ", "100ms/step", "ETA 6.9s", " 31%"} {
		if !strings.Contains(last+" ", want) {
			t.Errorf("display %q lacks %q", last, want)
		}
	}
	for step := 41; step <= 100; step++ {
		f.t = f.t.Add(100 * time.Millisecond)
		b.Update(step, 0.5)
	}
	final := f.texts[len(f.texts)-1]
	if !f.final[len(f.final)-1] || !strings.Contains(final, "100/100") || !strings.Contains(final, "done in 14.9s") {
		t.Errorf("final display %q (final=%v), want 100/100 and done in 14.9s", final, f.final[len(f.final)-1])
	}
	n := len(f.texts)
	b.Update(100, 0.1)
	b.Done()
	if len(f.texts) != n {
		t.Errorf("updates after the end displayed again")
	}
}

// TestThrottleAndMean checks that 10,000 fast steps give a display per
// interval, not per step, and that the value shown is the mean since the
// previous display.
func TestThrottleAndMean(t *testing.T) {
	b, f := newFake(10000)
	for step := 1; step <= 10000; step++ {
		f.t = f.t.Add(time.Millisecond)
		b.Update(step, float64(step))
	}
	// 10 s of steps, 1 s interval: first, about 10 timed, last.
	if n := len(f.texts); n < 10 || n > 13 {
		t.Errorf("%d displays for 10,000 steps over 10 s at 1 s intervals, want 10 to 13", n)
	}
	// The second display comes 1 s (1000 steps) after the first: it shows the mean of steps 2..1001.
	if !strings.Contains(f.texts[1], "1001/10000") || !strings.Contains(f.texts[1], "loss 501.5") {
		t.Errorf("second display %q, want step 1001 and the mean 501.5 of steps 2..1001", f.texts[1])
	}
}

// TestLinesForFiles checks the plain-line output for a non-terminal writer:
// one line per tenth of the run, no carriage returns or escape codes, and
// an HTML rendering with a progress element.
func TestLinesForFiles(t *testing.T) {
	var buf bytes.Buffer
	b := NewWriter("fit", 50, &buf)
	b.Metric = "ELBO"
	for step := 1; step <= 50; step++ {
		b.Update(step, -float64(step))
	}
	out := buf.String()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("line output contains a carriage return or an escape: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 { // step 1, then steps 5, 10, …, 50
		t.Errorf("%d lines, want 11:\n%s", len(lines), out)
	}
	if !strings.Contains(lines[len(lines)-1], "50/50") || !strings.Contains(lines[len(lines)-1], "ELBO -48") {
		t.Errorf("last line %q, want 50/50 and the mean ELBO of steps 46..50 (-48)", lines[len(lines)-1])
	}
	_, h := b.render(time.Now(), false)
	if !strings.Contains(h, `<progress value="50" max="50"`) {
		t.Errorf("HTML %q lacks the progress element", h)
	}
}

func TestDoneEarlyAndNaN(t *testing.T) {
	b, f := newFake(10)
	f.t = f.t.Add(time.Second)
	b.Update(1, math.NaN())
	if strings.Contains(f.texts[0], "loss") {
		t.Errorf("NaN value shown: %q", f.texts[0])
	}
	f.t = f.t.Add(time.Second)
	b.Update(2, 3)
	b.Done()
	if last := f.texts[len(f.texts)-1]; !strings.Contains(last, "stopped in 2.0s") || !strings.Contains(last, "2/10") {
		t.Errorf("early Done shows %q, want 2/10 … stopped in 2.0s", last)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "total=0") {
			t.Errorf("New with total 0: panic %v, want one naming total=0", r)
		}
	}()
	New("x", 0)
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond: "850ms", 12340 * time.Millisecond: "12.3s",
		245 * time.Second: "4m05s", 7380 * time.Second: "2h03m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// A note is shown after the figures, in text and HTML (escaped), from the
// next display on, and removed by an empty one.
func TestNote(t *testing.T) {
	b, f := newFake(3)
	b.SetNote("KL 1.5 <w 0.2>")
	f.t = f.t.Add(time.Second)
	b.Update(1, 2)
	if !strings.HasSuffix(f.texts[0], " · KL 1.5 <w 0.2>") || !strings.Contains(f.htmls[0], "KL 1.5 &lt;w 0.2&gt;") {
		t.Errorf("note not shown: %q / %q", f.texts[0], f.htmls[0])
	}
	b.SetNote("")
	f.t = f.t.Add(time.Second)
	b.Update(2, 2)
	if strings.Contains(f.texts[1], "KL") {
		t.Errorf("removed note still shown: %q", f.texts[1])
	}
}
