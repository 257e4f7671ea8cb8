package backend

import (
	"strings"
	"testing"
)

// TestUnknownBackendIsError checks that a backend name GoMLX does not know
// (GoMLX panics on it) comes back as an error naming the value and the
// environment variable, which gosde's commands print as one line.
func TestUnknownBackendIsError(t *testing.T) {
	b, err := NewWithConfig("bogus")
	if err == nil {
		t.Fatalf("NewWithConfig(\"bogus\") = %v, want an error", b)
	}
	for _, want := range []string{`"bogus"`, EnvVar, "can't find backend"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	t.Setenv(EnvVar, "bogus:opt")
	if _, err := New(); err == nil || !strings.Contains(err.Error(), `"bogus:opt"`) {
		t.Errorf("New with %s=bogus:opt: error %v", EnvVar, err)
	}
}
