// Command testreport turns `go test -json` output into what a person reads
// while the tests run and into per-step result files that one summary reads
// at the end.
//
//	go test -json ./... 2>&1 | testreport record -step unit -out .run/test-report
//	testreport summary [-fail-on-skip] .run/test-report
//
// record prints one line per package as plain `go test` does, the full output
// of every failed test and the compiler output of every failed build, and
// appends every finished test to <out>/<step>.jsonl. It exits 1 when a test
// or a package failed.
//
// summary reads every *.jsonl in the directory and prints each skipped test
// with its reason, each failed test, and last `tests: N passed, N failed,
// N skipped`. It exits 1 when a test failed, or, with -fail-on-skip, when one
// was skipped. Tests and subtests count once each, a parent besides its
// subtests; a package that failed to build counts as one failed test.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  go test -json ./... 2>&1 | testreport record -step NAME [-out DIR]
  testreport summary [-fail-on-skip] [DIR]
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "record":
		return runRecord(args[1:], stdin, stdout, stderr)
	case "summary":
		return runSummary(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "testreport: unknown mode %q\n%s", args[0], usage)
		return 2
	}
}
