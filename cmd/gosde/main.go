// Command gosde runs gosde's experiments from the command line: one
// subcommand per experiment (see `gosde help`).
//
// Every subcommand runs on the backend chosen by GOMLX_BACKEND, or on the
// embedded pure-Go backend when it is unset.
package main

import (
	"fmt"
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

func usage() {
	fmt.Fprintf(os.Stderr, "usage: gosde <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun `gosde <command> -h` for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gosde: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "gosde %s: %v\n", cmd.name, err)
		os.Exit(1)
	}
}
