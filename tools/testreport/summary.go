package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// runSummary prints the skipped and failed tests of every step and, last,
// "tests: N passed, N failed, N skipped", which CI parses.
//
// Every result counts once: a test whose subtests ran counts as one test
// besides its subtests, and a fuzz target's seed inputs are its subtests. A
// package that failed without a failed test (a build failure, a panic in
// TestMain) counts as one failed test.
func runSummary(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("summary", flag.ContinueOnError)
	flags.SetOutput(stderr)
	failOnSkip := flags.Bool("fail-on-skip", false, "exit 1 when a test was skipped (CI installs everything a test needs)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	dir := ".run/test-report"
	switch flags.NArg() {
	case 0:
	case 1:
		dir = flags.Arg(0)
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	results, err := readResults(dir)
	if err != nil {
		fmt.Fprintln(stderr, "testreport:", err)
		return 1
	}

	var passed, failed, skipped int
	for _, r := range results {
		switch r.Outcome {
		case "pass":
			passed++
		case "skip":
			skipped++
			reason := r.Reason
			if reason == "" {
				reason = "(no reason given)"
			}
			fmt.Fprintf(stdout, "skip: %s: %s\n", r.name(), reason)
		}
	}
	for _, r := range results {
		if r.Outcome != "pass" && r.Outcome != "skip" {
			failed++
			if r.Reason != "" {
				fmt.Fprintf(stdout, "fail: %s: %s\n", r.name(), r.Reason)
			} else {
				fmt.Fprintf(stdout, "fail: %s\n", r.name())
			}
		}
	}
	status := 0
	if failed > 0 {
		status = 1
	}
	if len(results) == 0 {
		fmt.Fprintf(stdout, "no test results in %s: nothing was tested\n", dir)
		status = 1
	}
	if *failOnSkip && skipped > 0 {
		fmt.Fprintf(stdout, "-fail-on-skip: %d skipped tests count as failures (everything a test needs must be installed)\n", skipped)
		status = 1
	}
	fmt.Fprintf(stdout, "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	return status
}

// readResults reads every *.jsonl in dir, files in name order.
func readResults(dir string) ([]result, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // reported as "nothing was tested"
	} else if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	var results []result
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(f)
		for {
			var r result
			err := dec.Decode(&r)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			results = append(results, r)
		}
		f.Close()
	}
	return results, nil
}
