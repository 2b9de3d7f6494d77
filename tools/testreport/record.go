package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// event is one line of `go test -json`: a test2json TestEvent (see `go doc
// cmd/test2json`) or, for build-output and build-fail, a BuildEvent (see
// `go help buildjson`), which names no Package. The compiler output of a
// BuildEvent is printed as it comes, as go test prints it.
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

// result is one finished test in <out>/<step>.jsonl.
type result struct {
	Package string  `json:"package"`
	Test    string  `json:"test"`
	Outcome string  `json:"outcome"` // pass, fail or skip
	Elapsed float64 `json:"elapsed"` // seconds
	Reason  string  `json:"reason,omitempty"`
}

// Names of the results that stand for a package rather than a test, so that
// a package that failed without a failed test still counts as a failure.
const (
	buildFailed   = "[build failed]"
	packageFailed = "[package failed]"
	noResult      = "[no result]"
	noPackages    = "[no packages tested]"
)

// name is how a person finds the test: "pkg TestX/sub" or "pkg [build failed]".
func (r result) name() string {
	return strings.TrimSpace(r.Package + " " + r.Test)
}

func runRecord(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	step := fs.String("step", "", "name of this test step; results go to DIR/NAME.jsonl")
	out := fs.String("out", ".run/test-report", "directory of the result files")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *step == "" || strings.ContainsAny(*step, `/\`) || fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "testreport:", err)
		return 1
	}
	// Appending lets one step gather several go test runs; whoever starts a
	// run of all steps clears the directory first.
	f, err := os.OpenFile(filepath.Join(*out, *step+".jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(stderr, "testreport:", err)
		return 1
	}
	rec := newRecorder(stdout, f)
	err = errors.Join(rec.read(stdin), rec.finish(), f.Close())
	if err != nil {
		fmt.Fprintln(stderr, "testreport:", err)
		return 1
	}
	if rec.failed {
		return 1
	}
	return 0
}

// recorder follows the packages of one `go test -json` stream, which go test
// may interleave, and prints and records each test as it finishes.
type recorder struct {
	out        io.Writer // what a person reads
	results    *json.Encoder
	resultsErr error
	packages   map[string]*packageRun
	sawPackage bool
	failed     bool
}

type packageRun struct {
	output      strings.Builder // output that belongs to no test, e.g. "ok  pkg 0.1s"
	running     map[string]*testRun
	started     []string // names in running, in the order they started
	failedTests int
}

type testRun struct {
	output  strings.Builder
	partial string // a benchmark's output line that has not ended yet
}

func newRecorder(out, results io.Writer) *recorder {
	return &recorder{out: out, results: json.NewEncoder(results), packages: map[string]*packageRun{}}
}

func (r *recorder) read(in io.Reader) error {
	br := bufio.NewReader(in)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			r.line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// line handles one line of input. Lines that are not events, like the go
// command's own errors on stderr, are passed through.
func (r *recorder) line(line string) {
	var e event
	text := strings.TrimSpace(line)
	if strings.HasPrefix(text, "{") && json.Unmarshal([]byte(text), &e) == nil && e.Action != "" {
		r.handle(e)
		return
	}
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	fmt.Fprint(r.out, line)
}

func (r *recorder) handle(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
		return
	case "build-fail":
		r.failed = true
		return
	}
	if e.Package == "" {
		return
	}
	r.sawPackage = true
	p := r.packages[e.Package]
	if p == nil {
		p = &packageRun{running: map[string]*testRun{}}
		r.packages[e.Package] = p
	}
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.output.WriteString(e.Output)
		case "pass", "skip", "fail":
			r.packageDone(e, p)
		}
		return
	}
	switch e.Action {
	case "run":
		p.test(e.Test)
	case "output":
		t := p.test(e.Test)
		t.output.WriteString(e.Output)
		if isBenchmark(e.Test) {
			r.printBenchmarkResults(e.Test, t, e.Output)
		}
	case "pass", "skip", "fail":
		r.testDone(e, p)
	}
}

// test returns the running test called name, starting it if need be.
func (p *packageRun) test(name string) *testRun {
	t := p.running[name]
	if t == nil {
		t = &testRun{}
		p.running[name] = t
		p.started = append(p.started, name)
	}
	return t
}

func (p *packageRun) finish(name string) *testRun {
	t := p.test(name)
	delete(p.running, name)
	p.started = slices.DeleteFunc(p.started, func(s string) bool { return s == name })
	return t
}

// Benchmarks are not counted; a failing one fails its package, which is.
func isBenchmark(test string) bool {
	return strings.HasPrefix(test, "Benchmark")
}

// printBenchmarkResults prints the "BenchmarkX-8  100  12 ns/op" lines, which
// test2json may split over several events.
func (r *recorder) printBenchmarkResults(name string, t *testRun, output string) {
	t.partial += output
	for {
		line, rest, ok := strings.Cut(t.partial, "\n")
		if !ok {
			return
		}
		t.partial = rest
		if after, ok := strings.CutPrefix(line, name); ok && after != "" && strings.ContainsAny(after[:1], "- \t") {
			fmt.Fprintln(r.out, line)
		}
	}
}

func (r *recorder) testDone(e event, p *packageRun) {
	t := p.finish(e.Test)
	if isBenchmark(e.Test) {
		if e.Action == "fail" {
			fmt.Fprint(r.out, t.output.String())
		}
		return
	}
	res := result{Package: e.Package, Test: e.Test, Outcome: e.Action, Elapsed: e.Elapsed}
	switch e.Action {
	case "fail":
		p.failedTests++
		fmt.Fprint(r.out, t.output.String())
	case "skip":
		res.Reason = skipReason(t.output.String())
	}
	r.record(res)
}

func (r *recorder) packageDone(e event, p *packageRun) {
	delete(r.packages, e.Package)
	switch e.Action {
	case "pass":
		r.printStatusLine(p, "ok  ", fmt.Sprintf("ok  \t%s\t%.3fs\n", e.Package, e.Elapsed))
	case "skip":
		r.printStatusLine(p, "?   ", fmt.Sprintf("?   \t%s\t[no test files]\n", e.Package))
	case "fail":
		r.failed = true
		r.failUnfinished(e.Package, p)
		switch {
		case e.FailedBuild != "":
			r.record(result{Package: e.Package, Test: buildFailed, Outcome: "fail"})
		case p.failedTests == 0:
			// TestMain panicked, a benchmark failed, or the binary exited
			// between tests: nothing else would count this failure.
			r.record(result{Package: e.Package, Test: packageFailed, Outcome: "fail", Elapsed: e.Elapsed})
		}
		fmt.Fprint(r.out, p.output.String())
	}
}

// failUnfinished fails the tests that were still running when their package
// ended: the one that hit the timeout, or called os.Exit, and its parents.
func (r *recorder) failUnfinished(pkg string, p *packageRun) {
	for _, name := range slices.Clone(p.started) {
		t := p.finish(name)
		fmt.Fprint(r.out, t.output.String())
		if isBenchmark(name) {
			continue
		}
		p.failedTests++
		r.record(result{Package: pkg, Test: name, Outcome: "fail", Reason: "did not finish"})
	}
}

// printStatusLine prints go test's own line for the package, such as
// "ok  \tpkg\t0.1s (cached)", or fallback when there is none.
func (r *recorder) printStatusLine(p *packageRun, prefix, fallback string) {
	for line := range strings.Lines(p.output.String()) {
		if strings.HasPrefix(line, prefix) {
			fmt.Fprint(r.out, line)
			return
		}
	}
	fmt.Fprint(r.out, fallback)
}

// finish accounts for an input that ended early: packages that started but
// never reported, or no package at all (the go command failed before testing).
func (r *recorder) finish() error {
	pkgs := make([]string, 0, len(r.packages))
	for pkg := range r.packages {
		pkgs = append(pkgs, pkg)
	}
	slices.Sort(pkgs)
	for _, pkg := range pkgs {
		p := r.packages[pkg]
		delete(r.packages, pkg)
		r.failed = true
		r.failUnfinished(pkg, p)
		r.record(result{Package: pkg, Test: noResult, Outcome: "fail", Reason: "the input ended before the package did"})
		fmt.Fprint(r.out, p.output.String())
		fmt.Fprintf(r.out, "FAIL\t%s %s\n", pkg, noResult)
	}
	if !r.sawPackage {
		r.failed = true
		r.record(result{Test: noPackages, Outcome: "fail", Reason: "no go test -json events in the input"})
		fmt.Fprintln(r.out, "testreport: no go test -json events in the input")
	}
	return r.resultsErr
}

func (r *recorder) record(res result) {
	if err := r.results.Encode(res); err != nil && r.resultsErr == nil {
		r.resultsErr = err
	}
}

// logLine is the start of what t.Log, t.Error or t.Skip print: the caller's
// file and line, indented. The reason leaves the location out; the test's
// name already says where to look.
var (
	logLine     = regexp.MustCompile(`^\s+\S+\.go:\d+: `)
	logLocation = regexp.MustCompile(`^\S+\.go:\d+: `)
)

// skipReason is what a skipped test logged last, which is its t.Skip message
// when it gave one: test2json reports that message as output before the skip
// action. A message of several lines is joined into one.
func skipReason(output string) string {
	var entries [][]string
	for line := range strings.Lines(output) {
		text := strings.TrimSpace(line)
		switch {
		case text == "" || strings.HasPrefix(text, "=== ") || strings.HasPrefix(text, "--- "):
			continue
		case logLine.MatchString(line) || len(entries) == 0 || !strings.HasPrefix(line, " "):
			entries = append(entries, []string{text})
		default: // a continuation line of a message of several lines
			entries[len(entries)-1] = append(entries[len(entries)-1], text)
		}
	}
	if len(entries) == 0 {
		return ""
	}
	last := entries[len(entries)-1]
	last[0] = logLocation.ReplaceAllString(last[0], "")
	return strings.Join(last, " ")
}
