package checkpoint

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHistoryJSON round-trips a history through WriteHistory/ReadHistory
// (NaN written as null and read back as NaN, column order kept).
func TestHistoryJSON(t *testing.T) {
	h := NewHistory("loss", "elbo")
	for i, v := range []float64{1.5, math.Inf(1), -0.25} {
		if err := h.Append(i+1, v, 2*v); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "history.json")
	if err := WriteHistory(path, h); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if want := `{"steps":[1,2,3],"loss":[1.5,null,-0.25],"elbo":[3,null,-0.5]}`; string(raw) != want {
		t.Fatalf("JSON %s, want %s", raw, want)
	}
	got, err := ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Steps, h.Steps) || got.Columns[0].Name != "loss" || got.Columns[1].Values[2] != -0.5 || !math.IsNaN(got.Columns[0].Values[1]) {
		t.Fatalf("read back %+v", got)
	}
	got.Truncate(2)
	if got.Len() != 2 || len(got.Column("elbo")) != 2 {
		t.Fatalf("Truncate(2): %+v", got)
	}
	if err := got.Append(2, 0, 0); err == nil {
		t.Error("Append of a step not after the last was accepted")
	}
	if err := got.Append(5, 0); err == nil {
		t.Error("Append with too few values was accepted")
	}
}

// TestHistoryBad checks that ragged, duplicated, non-numeric and
// non-increasing histories are errors that say what is wrong (never a
// panic).
func TestHistoryBad(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"steps":[1,2,3],"loss":[1,2]}`, `"loss" has 2 values for 3 steps`},
		{`{"steps":[1,2],"loss":[1,2],"loss":[3,4]}`, `used twice`},
		{`{"steps":[1,2],"steps":[1,2]}`, `twice`},
		{`{"loss":[1,2]}`, `no "steps"`},
		{`{"steps":[2,1]}`, `strictly increasing`},
		{`{"steps":[1.5]}`, `integers`},
		{`{"steps":[1],"loss":["a"]}`, `column "loss"`},
		{`{"steps":[1],"loss":[1]} x`, `after the JSON object`},
		{`[1,2]`, `JSON object`},
		{`{"steps":[1],"loss":[1]`, `history`},
		{``, `JSON object`},
	} {
		var h History
		err := h.UnmarshalJSON([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.in, err, c.want)
		}
	}
}
