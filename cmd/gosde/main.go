// Command gosde runs gosde's experiments from the command line: one
// subcommand per experiment (see `gosde help`).
//
// Every subcommand runs on the backend chosen by GOMLX_BACKEND, or on the
// embedded pure-Go backend when it is unset.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one gosde subcommand. Each lives in its own file and registers
// itself from an init function.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	if _, dup := commands[name]; dup {
		panic("gosde: subcommand registered twice: " + name)
	}
	commands[name] = command{name: name, summary: summary, run: run}
}

// usage prints the list of subcommands.
func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: gosde <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun `gosde <command> -h` for a command's flags.\n")
}

func main() { os.Exit(runMain(os.Args[1:])) }

// runMain runs the subcommand args[0] with the flags args[1:] and returns the
// exit status: 0 on success and for help, 1 for any error, which is printed
// as one line on stderr. A panic (a bug, or a library that panics on bad
// input) is also turned into one line and status 1: no goroutine dump.
func runMain(args []string) (code int) {
	name := "gosde"
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "%s: internal error: %s\n", name, oneLine(fmt.Sprint(r)))
			code = 1
		}
	}()
	if len(args) == 0 {
		usage(os.Stderr)
		return 1
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if _, ok := commands[args[1]]; ok {
				return runMain([]string{args[1], "-h"})
			}
		}
		usage(os.Stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gosde: unknown command %q (gosde help lists the commands)\n", args[0])
		return 1
	}
	name = "gosde " + cmd.name
	if err := cmd.run(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, oneLine(err.Error()))
		return 1
	}
	return 0
}
