// Command aiteams is the operator's command for the ai-teams stack:
//
//	aiteams verify                the design guide's acceptance checks against the running stack
//	aiteams trace <tracking_id>   one request: its spans, log lines and rows
//	aiteams usage                 series, logs and traces projected to a month vs the free tier
//	aiteams console               a web page per request, recent requests and service health
//	aiteams load                  drive workflow requests, then find each in Jaeger and Prometheus
//
// Exit codes: 0 ok, 1 not found or a check failed, 2 bad usage or a part of
// the stack that could not be reached.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `aiteams — look at the ai-teams stack

Usage:
  aiteams verify [flags]                send probe requests and run the design guide's acceptance
                                        checks against the running stack: a PASS/FAIL/SKIP table
  aiteams trace [flags] <tracking_id>   show one request: a waterfall of its spans with
                                        its log lines, then the database rows it wrote
  aiteams usage [flags]                 active series, samples, log and trace volume projected
                                        to a month and compared with Grafana Cloud's free tier
  aiteams console [flags]               serve the console on 127.0.0.1:16680: recent requests,
                                        a page per request (waterfall, logs, rows), service health
  aiteams load [flags]                  drive workflow requests at a fixed rate or closed loop (loopback
                                        only, bounded), then check every tracking id in Jaeger and
                                        Prometheus: rate, statuses, latency, traces complete, delays, drops
  aiteams help [command]                this text, or a command's flags

Run 'aiteams <command> --help' for a command's flags. Defaults are make demo's addresses.

Exit codes: 0 ok, 1 a check failed, not found or over a limit, 2 bad usage or unreachable.
`

// exitError carries the exit code a failure should end the command with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "trace":
		err = runTrace(rest, stdout, stderr)
	case "usage":
		err = runUsage(rest, stdout, stderr)
	case "verify":
		err = runVerify(rest, stdout, stderr)
	case "console":
		err = runConsole(rest, stdout, stderr)
	case "load":
		err = runLoad(rest, stdout, stderr)
	case "help", "-h", "--help":
		switch {
		case len(rest) > 0 && rest[0] == "verify":
			err = runVerify([]string{"--help"}, stdout, stderr)
		case len(rest) > 0 && rest[0] == "trace":
			err = runTrace([]string{"--help"}, stdout, stderr)
		case len(rest) > 0 && rest[0] == "usage":
			err = runUsage([]string{"--help"}, stdout, stderr)
		case len(rest) > 0 && rest[0] == "console":
			err = runConsole([]string{"--help"}, stdout, stderr)
		case len(rest) > 0 && rest[0] == "load":
			err = runLoad([]string{"--help"}, stdout, stderr)
		default:
			fmt.Fprint(stdout, usage)
		}
	default:
		fmt.Fprint(stderr, usage)
		err = usageErr("unknown command %q", cmd)
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "aiteams: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// parseCommand gives a command's flag set its --help text (synopsis, then
// what it does, then the flags), parses args and checks that nargs
// positional arguments remain (-1: any). --help prints to stdout and ends
// the command with errHelp.
func parseCommand(fs *flag.FlagSet, args []string, stdout io.Writer, synopsis, about string, nargs int) error {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n%s\n\nFlags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return errHelp
		}
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	if nargs >= 0 && fs.NArg() != nargs {
		return usageErr("%s takes %d argument(s), got %d; see '%s --help'", fs.Name(), nargs, fs.NArg(), fs.Name())
	}
	return nil
}

// printJSON writes v as one indented JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
