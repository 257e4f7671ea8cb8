package catch

import (
	"errors"
	"testing"
)

// An error panic comes back as itself, any other value as its text, and a
// normal return as nil.
func TestPanic(t *testing.T) {
	want := errors.New("boom")
	if err := Panic(func() { panic(want) }); err != want {
		t.Errorf("error panic: got %v", err)
	}
	if err := Panic(func() { panic(42) }); err == nil || err.Error() != "42" {
		t.Errorf("value panic: got %v", err)
	}
	if err := Panic(func() {}); err != nil {
		t.Errorf("no panic: got %v", err)
	}
}
