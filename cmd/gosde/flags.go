package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// parseFlags parses a subcommand's flags. -h/--help prints the usage with
// every flag's default on stdout and returns flag.ErrHelp (exit status 0);
// a parse error comes back as one line (the flag package's own usage dump
// is suppressed). Positional arguments are refused.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(os.Stdout, fs)
		return flag.ErrHelp
	}
	if err != nil {
		return fmt.Errorf("%w (gosde %s -h lists the flags)", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (gosde %s -h lists the flags)", fs.Args(), fs.Name())
	}
	return nil
}

// printUsage writes a subcommand's summary and flags with their defaults.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: gosde %s [flags]\n", fs.Name())
	if c, ok := commands[fs.Name()]; ok {
		fmt.Fprintf(w, "\n%s\n", c.summary)
	}
	fmt.Fprintf(w, "\nflags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// flagRule is a condition on the numeric values of some flags.
type flagRule struct {
	names []string
	ok    func(v float64) bool
	want  string
}

// atLeast requires the flags to be ≥ lo.
func atLeast(lo float64, names ...string) flagRule {
	return flagRule{names, func(v float64) bool { return v >= lo }, fmt.Sprintf("a value ≥ %g", lo)}
}

// positive requires the flags to be > 0.
func positive(names ...string) flagRule {
	return flagRule{names, func(v float64) bool { return v > 0 }, "a value > 0"}
}

// finite requires nothing more than a finite value (every rule does).
func finite(names ...string) flagRule {
	return flagRule{names, func(float64) bool { return true }, "a finite value"}
}

// checkFlags returns an error naming the first flag whose value is not
// finite or breaks its rule: "--iters 0: want a value ≥ 1". A value the
// user set is thus honoured or refused, never replaced by a default.
func checkFlags(fs *flag.FlagSet, rules ...flagRule) error {
	for _, r := range rules {
		for _, name := range r.names {
			f := fs.Lookup(name)
			if f == nil {
				panic("gosde: checkFlags: no flag " + name)
			}
			var v float64
			switch x := f.Value.(flag.Getter).Get().(type) {
			case int:
				v = float64(x)
			case int64:
				v = float64(x)
			case uint64:
				v = float64(x)
			case float64:
				v = x
			default:
				panic(fmt.Sprintf("gosde: checkFlags: flag %s is not numeric", name))
			}
			if math.IsNaN(v) || math.IsInf(v, 0) || !r.ok(v) {
				return fmt.Errorf("--%s %s: want %s", name, f.Value, r.want)
			}
		}
	}
	return nil
}

// flagsSet returns the names of the flags given on the command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// oneLine joins a message's lines, so that every error is one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
