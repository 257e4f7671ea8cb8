package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/gosde/gosde/internal/atomicfile"
)

// History is a training curve: one row per recorded step, one column per
// figure (loss, log-likelihood, ...). It is saved inside every checkpoint,
// so a checkpoint and its history cannot disagree; its JSON form
// (MarshalJSON) is what programs write for users as history.json.
type History struct {
	// Steps are the recorded global steps, strictly increasing, ≥ 0.
	Steps []int
	// Columns hold one value per step each.
	Columns []Column
}

// Column is one named figure of a History.
type Column struct {
	Name   string
	Values []float64
}

// NewHistory returns an empty history with the named columns.
func NewHistory(names ...string) History {
	h := History{Columns: make([]Column, len(names))}
	for i, n := range names {
		h.Columns[i].Name = n
	}
	return h
}

// Len returns the number of recorded steps.
func (h History) Len() int { return len(h.Steps) }

// Column returns the values of the column named name (nil if none).
func (h History) Column(name string) []float64 {
	for _, c := range h.Columns {
		if c.Name == name {
			return c.Values
		}
	}
	return nil
}

// Append records values (one per column, in column order) at step, which
// must be larger than the last recorded step.
func (h *History) Append(step int, values ...float64) error {
	if len(values) != len(h.Columns) {
		return fmt.Errorf("checkpoint.History.Append: %d values for %d columns", len(values), len(h.Columns))
	}
	if step < 0 || (len(h.Steps) > 0 && step <= h.Steps[len(h.Steps)-1]) {
		last := -1
		if len(h.Steps) > 0 {
			last = h.Steps[len(h.Steps)-1]
		}
		return fmt.Errorf("checkpoint.History.Append: step %d must be ≥ 0 and after the last recorded step %d", step, last)
	}
	h.Steps = append(h.Steps, step)
	for i, v := range values {
		h.Columns[i].Values = append(h.Columns[i].Values, v)
	}
	return nil
}

// Truncate drops the rows after step.
func (h *History) Truncate(step int) {
	n := 0
	for n < len(h.Steps) && h.Steps[n] <= step {
		n++
	}
	h.Steps = h.Steps[:n]
	for i := range h.Columns {
		h.Columns[i].Values = h.Columns[i].Values[:min(n, len(h.Columns[i].Values))]
	}
}

// Clone returns a deep copy of h.
func (h History) Clone() History {
	out := History{Steps: slices.Clone(h.Steps), Columns: make([]Column, len(h.Columns))}
	for i, c := range h.Columns {
		out.Columns[i] = Column{Name: c.Name, Values: slices.Clone(c.Values)}
	}
	return out
}

// Validate returns an error naming what is wrong: steps not strictly
// increasing or negative, a column without a name, a name used twice or
// "steps", a column whose length is not the number of steps.
func (h History) Validate() error {
	for i, s := range h.Steps {
		if s < 0 || (i > 0 && s <= h.Steps[i-1]) {
			return fmt.Errorf("steps must be ≥ 0 and strictly increasing, got %d after %v", s, h.Steps[max(0, i-1):i])
		}
	}
	seen := map[string]bool{"steps": true}
	for _, c := range h.Columns {
		if c.Name == "" || seen[c.Name] {
			return fmt.Errorf("column name %q is empty, reserved or used twice", c.Name)
		}
		seen[c.Name] = true
		if len(c.Values) != len(h.Steps) {
			return fmt.Errorf("column %q has %d values for %d steps (a ragged history)", c.Name, len(c.Values), len(h.Steps))
		}
	}
	return nil
}

// MarshalJSON writes {"steps":[...],"<column>":[...],...} in column order;
// non-finite values are written as null.
func (h History) MarshalJSON() ([]byte, error) {
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint.History: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(`{"steps":[`)
	for i, s := range h.Steps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s))
	}
	b.WriteByte(']')
	for _, c := range h.Columns {
		name, _ := json.Marshal(c.Name)
		b.WriteByte(',')
		b.Write(name)
		b.WriteString(":[")
		for i, v := range c.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				b.WriteString("null")
			} else {
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the form MarshalJSON writes (null read as NaN) and
// validates it: a ragged history, a missing "steps" or a value that is not
// a number is an error naming the column.
func (h *History) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("history: want a JSON object of columns, got %v (%v)", t, err)
	}
	var out History
	haveSteps := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		name, _ := t.(string)
		if name == "steps" {
			if haveSteps {
				return fmt.Errorf("history: \"steps\" appears twice")
			}
			haveSteps = true
			if err := dec.Decode(&out.Steps); err != nil {
				return fmt.Errorf("history: \"steps\" must be a list of integers: %w", err)
			}
			continue
		}
		var vals []*float64
		if err := dec.Decode(&vals); err != nil {
			return fmt.Errorf("history: column %q must be a list of numbers or nulls: %w", name, err)
		}
		c := Column{Name: name, Values: make([]float64, len(vals))}
		for i, v := range vals {
			c.Values[i] = math.NaN()
			if v != nil {
				c.Values[i] = *v
			}
		}
		out.Columns = append(out.Columns, c)
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("history: data after the JSON object")
	}
	if !haveSteps {
		return fmt.Errorf("history: no \"steps\" list")
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	*h = out
	return nil
}

// ReadHistory reads a history.json written by WriteHistory; errors name the
// file.
func ReadHistory(path string) (History, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return History{}, fmt.Errorf("checkpoint: %w", err)
	}
	var h History
	if err := h.UnmarshalJSON(data); err != nil {
		return History{}, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// WriteHistory writes h's JSON form to path atomically. Programs write it
// after the checkpoint it comes from, so a history.json is never ahead of
// its checkpoint.
func WriteHistory(path string, h History) error {
	data, err := h.MarshalJSON()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
