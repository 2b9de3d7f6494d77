package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json by running go test -json on the fixture packages")

// fixtures is a throwaway module whose packages pass, fail, skip, crash and
// fail to build in the ways the scenarios need.
var fixtures = map[string]string{
	"go.mod": "module example.com/fixture\n\ngo 1.26\n",

	"pass/pass_test.go": `package pass

import "testing"

func TestOK(t *testing.T) { t.Log("chatter of a passing test") }
`,
	"notests/notests.go": "package notests\n",

	"skip/skip_test.go": `package skip

import "testing"

func TestNeedsTool(t *testing.T) { t.Skip("promtool not installed") }

func TestLogsThenSkips(t *testing.T) {
	t.Log("looking for git")
	t.Skipf("git ls-files: %v", "exit status 128")
}

func TestSkipNow(t *testing.T) { t.SkipNow() }

func TestMultiLine(t *testing.T) { t.Skip("first line\nsecond line") }

func TestParallelSub(t *testing.T) {
	t.Parallel()
	t.Run("inner", func(t *testing.T) {
		t.Parallel()
		t.Skip("inner reason")
	})
}
`,

	"fail/fail_test.go": `package fail

import "testing"

func TestBad(t *testing.T) {
	t.Log("before")
	t.Errorf("want 1, got 2")
}

func TestGood(t *testing.T) { t.Log("chatter of a passing test") }

func TestTable(t *testing.T) {
	t.Run("a", func(t *testing.T) {})
	t.Run("b", func(t *testing.T) { t.Error("b broke") })
	t.Run("c", func(t *testing.T) { t.Skip("not on this OS") })
}
`,
	"parallel/parallel_test.go": `package parallel

import (
	"testing"
	"time"
)

func TestP1(t *testing.T) { t.Parallel(); time.Sleep(10 * time.Millisecond) }

func TestP2(t *testing.T) {
	t.Parallel()
	time.Sleep(10 * time.Millisecond)
	t.Fatal("p2 fatal")
}
`,

	"builderr/builderr.go": "package builderr\n\nfunc F() int { return \"not an int\" }\n",
	"builderr/builderr_test.go": `package builderr

import "testing"

func TestF(t *testing.T) { F() }
`,
	"testbuilderr/testbuilderr.go": "package testbuilderr\n",
	"testbuilderr/testbuilderr_test.go": `package testbuilderr

import "testing"

func TestF(t *testing.T) { undefinedThing() }
`,
	"vetfail/vetfail_test.go": `package vetfail

import (
	"fmt"
	"testing"
)

func TestV(t *testing.T) { fmt.Printf("%d\n", "not a number") }
`,

	"mainpanic/mainpanic_test.go": `package mainpanic

import "testing"

func TestMain(m *testing.M) { panic("setup broke") }

func TestNeverRuns(t *testing.T) {}
`,
	"exits/exits_test.go": `package exits

import (
	"os"
	"testing"
)

func TestExits(t *testing.T) {
	t.Log("leaving")
	os.Exit(3)
}
`,
	"panics/panics_test.go": `package panics

import "testing"

func TestPanics(t *testing.T) {
	var m map[string]int
	m["a"] = 1
}

func TestAfter(t *testing.T) {}
`,
	"timeout/timeout_test.go": `package timeout

import (
	"testing"
	"time"
)

func TestSlow(t *testing.T) { time.Sleep(10 * time.Second) }
`,

	"fuzz/fuzz_test.go": `package fuzz

import "testing"

func FuzzParse(f *testing.F) {
	f.Add("a")
	f.Fuzz(func(t *testing.T, s string) {})
}
`,
	"bench/bench_test.go": `package bench

import "testing"

func TestB(t *testing.T) {}

func BenchmarkLoop(b *testing.B) {
	for b.Loop() {
	}
}
`,
	"benchfail/benchfail_test.go": `package benchfail

import "testing"

func TestFine(t *testing.T) {}

func BenchmarkBroken(b *testing.B) { b.Fatal("bench broke") }
`,
}

const fixture = "example.com/fixture/"

type scenario struct {
	name string
	args []string // go test -json -count=1 ARGS, in the fixture module
	code int      // exit status of record
	// results are "outcome pkg Test: reason", in any order, with pkg
	// relative to the fixture module.
	results []string
	summary string   // last line of the summary
	printed []string // in what record prints
	hidden  []string // not in what record prints
}

var scenarios = []scenario{
	{
		name:    "pass",
		args:    []string{"./pass", "./notests"},
		results: []string{"pass pass TestOK"},
		summary: "tests: 1 passed, 0 failed, 0 skipped",
		printed: []string{"ok  \t" + fixture + "pass\t", "?   \t" + fixture + "notests\t[no test files]"},
		hidden:  []string{"chatter of a passing test"},
	},
	{
		name: "skip",
		args: []string{"./skip"},
		results: []string{
			"skip skip TestNeedsTool: promtool not installed",
			"skip skip TestLogsThenSkips: git ls-files: exit status 128",
			"skip skip TestSkipNow",
			"skip skip TestMultiLine: first line second line",
			"skip skip TestParallelSub/inner: inner reason",
			"pass skip TestParallelSub",
		},
		summary: "tests: 1 passed, 0 failed, 5 skipped",
		printed: []string{"ok  \t" + fixture + "skip\t"},
		hidden:  []string{"promtool not installed"},
	},
	{
		name: "fail",
		args: []string{"./fail", "./parallel"},
		code: 1,
		results: []string{
			"fail fail TestBad",
			"pass fail TestGood",
			"pass fail TestTable/a",
			"fail fail TestTable/b",
			"skip fail TestTable/c: not on this OS",
			"fail fail TestTable",
			"pass parallel TestP1",
			"fail parallel TestP2",
		},
		summary: "tests: 3 passed, 4 failed, 1 skipped",
		printed: []string{"want 1, got 2", "before", "b broke", "p2 fatal", "FAIL\t" + fixture + "fail\t", "FAIL\t" + fixture + "parallel\t"},
		hidden:  []string{"chatter of a passing test", "not on this OS"},
	},
	{
		name: "build",
		args: []string{"./builderr", "./testbuilderr", "./vetfail", "./pass"},
		code: 1,
		results: []string{
			"fail builderr [build failed]",
			"fail testbuilderr [build failed]",
			"fail vetfail [build failed]",
			"pass pass TestOK",
		},
		summary: "tests: 1 passed, 3 failed, 0 skipped",
		printed: []string{
			`builderr.go:3:23: cannot use "not an int"`,
			"undefined: undefinedThing",
			"fmt.Printf format %d has arg",
			"FAIL\t" + fixture + "builderr [build failed]",
			"ok  \t" + fixture + "pass\t",
		},
	},
	{
		name: "crash",
		args: []string{"-timeout", "1s", "./mainpanic", "./exits", "./panics", "./timeout"},
		code: 1,
		results: []string{
			"fail mainpanic [package failed]",
			"fail exits TestExits: did not finish",
			"fail panics TestPanics",
			"fail timeout TestSlow: did not finish",
		},
		summary: "tests: 0 passed, 4 failed, 0 skipped",
		printed: []string{"panic: setup broke", "leaving", "assignment to entry in nil map", "panic: test timed out after 1s"},
	},
	{
		name: "fuzzbench",
		args: []string{"-bench", ".", "-benchtime", "3x", "./fuzz", "./bench", "./benchfail"},
		code: 1,
		results: []string{
			"pass fuzz FuzzParse/seed#0",
			"pass fuzz FuzzParse",
			"pass bench TestB",
			"pass benchfail TestFine",
			"fail benchfail [package failed]",
		},
		summary: "tests: 4 passed, 1 failed, 0 skipped",
		printed: []string{"ns/op", "bench broke", "ok  \t" + fixture + "bench\t"},
	},
}

// TestRecordedStreams feeds streams recorded from the fixtures (regenerate
// them with -update).
func TestRecordedStreams(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			sc.check(t, recordedStream(t, sc))
		})
	}
}

// TestLiveStream runs go test on the fixtures that pass, skip, fail and do
// not build, so that a change in the go command's output format shows up
// here rather than in CI's counts. One go test run keeps it to seconds.
func TestLiveStream(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on the fixture module; -short leaves that out")
	}
	sc := combine("pass", "skip", "fail", "build")
	sc.check(t, goTestJSON(t, writeFixtures(t), sc.args))
}

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	for _, sc := range scenarios {
		if sc.name == name {
			return sc
		}
	}
	t.Fatalf("no scenario %q", name)
	return scenario{}
}

// combine is the scenario of running the named ones in one go test.
func combine(names ...string) scenario {
	var all scenario
	for _, sc := range scenarios {
		if !slices.Contains(names, sc.name) {
			continue
		}
		all.code = max(all.code, sc.code)
		for _, a := range sc.args {
			if !slices.Contains(all.args, a) {
				all.args = append(all.args, a)
			}
		}
		for _, r := range sc.results {
			if !slices.Contains(all.results, r) {
				all.results = append(all.results, r)
			}
		}
		all.printed = append(all.printed, sc.printed...)
		all.hidden = append(all.hidden, sc.hidden...)
	}
	count := map[string]int{}
	for _, r := range all.results {
		outcome, _, _ := strings.Cut(r, " ")
		count[outcome]++
	}
	all.summary = fmt.Sprintf("tests: %d passed, %d failed, %d skipped", count["pass"], count["fail"], count["skip"])
	return all
}

func (sc scenario) check(t *testing.T, stream string) {
	t.Helper()
	dir := t.TempDir()
	printed, code := record(t, stream, "unit", dir)
	if code != sc.code {
		t.Errorf("record exited %d, want %d; it printed:\n%s", code, sc.code, printed)
	}
	got := readSummaryInputs(t, dir)
	want := slices.Clone(sc.results)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("results:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, s := range sc.printed {
		if !strings.Contains(printed, s) {
			t.Errorf("record did not print %q; it printed:\n%s", s, printed)
		}
	}
	for _, s := range sc.hidden {
		if strings.Contains(printed, s) {
			t.Errorf("record printed %q, which only a failure should show; it printed:\n%s", s, printed)
		}
	}
	lines, summaryCode := summarize(t, dir)
	if last := lines[len(lines)-1]; last != sc.summary {
		t.Errorf("summary ends with %q, want %q", last, sc.summary)
	}
	if (summaryCode != 0) != (sc.code != 0) {
		t.Errorf("summary exited %d, record %d: they must agree", summaryCode, code)
	}
}

// TestInterleavedPackages merges two packages' streams line by line, as go
// test may when it runs them in parallel.
func TestInterleavedPackages(t *testing.T) {
	a := strings.SplitAfter(recordedStream(t, scenarioNamed(t, "fail")), "\n")
	b := strings.SplitAfter(recordedStream(t, scenarioNamed(t, "skip")), "\n")
	var merged strings.Builder
	for i := range max(len(a), len(b)) {
		if i < len(a) {
			merged.WriteString(a[i])
		}
		if i < len(b) {
			merged.WriteString(b[i])
		}
	}
	combine("fail", "skip").check(t, merged.String())
}

func TestLinesThatAreNotEventsPassThrough(t *testing.T) {
	pass := scenarioNamed(t, "pass")
	pass.printed = append(pass.printed, "go: downloading example.com/dep v1.0.0\n", "{not json\n", "no newline at the end\n")
	stream := "go: downloading example.com/dep v1.0.0\n{not json\n" + recordedStream(t, pass) + "no newline at the end"
	pass.check(t, stream)
}

func TestInputWithoutEventsFails(t *testing.T) {
	empty := scenario{
		code:    1,
		results: []string{"fail [no packages tested]: no go test -json events in the input"},
		summary: "tests: 0 passed, 1 failed, 0 skipped",
	}
	empty.check(t, "go: updates to go.mod needed; to update it:\n\tgo mod tidy\n")
}

// A stream that stops in the middle of a test (go test was killed) fails
// that test and its package.
func TestTruncatedStreamFails(t *testing.T) {
	stream := recordedStream(t, scenarioNamed(t, "fail"))
	i := strings.Index(stream, `"Action":"run","Package":"example.com/fixture/fail","Test":"TestGood"`)
	if i < 0 {
		t.Fatal("the recorded fail stream does not run TestGood")
	}
	stream = stream[:strings.IndexByte(stream[i:], '\n')+i+1]
	truncated := scenario{
		code: 1,
		results: []string{
			"fail fail TestBad",
			"fail fail TestGood: did not finish",
			"fail fail [no result]: the input ended before the package did",
		},
		summary: "tests: 0 passed, 3 failed, 0 skipped",
		printed: []string{"FAIL\t" + fixture + "fail [no result]"},
	}
	truncated.check(t, stream)
}

func TestRecordAppendsToItsStep(t *testing.T) {
	pass, skip := recordedStream(t, scenarioNamed(t, "pass")), recordedStream(t, scenarioNamed(t, "skip"))
	dir := t.TempDir()
	record(t, pass, "unit", dir)
	record(t, pass, "unit", dir)
	record(t, skip, "stack", dir)
	lines, code := summarize(t, dir)
	if want := "tests: 3 passed, 0 failed, 5 skipped"; lines[len(lines)-1] != want {
		t.Errorf("summary of two steps ends with %q, want %q", lines[len(lines)-1], want)
	}
	if code != 0 {
		t.Errorf("summary exited %d with no failure", code)
	}
	if !slices.Contains(lines, "skip: "+fixture+"skip TestNeedsTool: promtool not installed") {
		t.Errorf("summary does not give the skip reason:\n%s", strings.Join(lines, "\n"))
	}
	if !slices.Contains(lines, "skip: "+fixture+"skip TestSkipNow: (no reason given)") {
		t.Errorf("summary does not say a skip gave no reason:\n%s", strings.Join(lines, "\n"))
	}
}

func TestSummaryFailOnSkip(t *testing.T) {
	skip := scenarioNamed(t, "skip")
	dir := t.TempDir()
	record(t, recordedStream(t, skip), "unit", dir)
	if _, code := summarize(t, dir); code != 0 {
		t.Errorf("summary without -fail-on-skip exited %d", code)
	}
	lines, code := summarize(t, "-fail-on-skip", dir)
	if code != 1 {
		t.Errorf("summary -fail-on-skip exited %d with skipped tests, want 1", code)
	}
	if lines[len(lines)-1] != skip.summary {
		t.Errorf("summary -fail-on-skip ends with %q, want %q", lines[len(lines)-1], skip.summary)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "-fail-on-skip: 5 skipped") {
		t.Errorf("summary -fail-on-skip does not say why it fails:\n%s", strings.Join(lines, "\n"))
	}
}

func TestSummaryWithoutResultsFails(t *testing.T) {
	for name, dir := range map[string]string{"empty": t.TempDir(), "missing": filepath.Join(t.TempDir(), "nothing")} {
		lines, code := summarize(t, dir)
		if code != 1 {
			t.Errorf("%s: summary exited %d without results, want 1", name, code)
		}
		if want := "tests: 0 passed, 0 failed, 0 skipped"; lines[len(lines)-1] != want {
			t.Errorf("%s: summary ends with %q, want %q", name, lines[len(lines)-1], want)
		}
	}
}

// CI reads the counts from the summary's last line with this pattern.
func TestSummaryLineIsWhatCIParses(t *testing.T) {
	ci := regexp.MustCompile(`^(\w+: )?\d+ passed, \d+ failed, \d+ skipped$`)
	for _, sc := range scenarios {
		if !ci.MatchString(sc.summary) {
			t.Errorf("%s: %q is not what CI parses", sc.name, sc.summary)
		}
	}
}

func TestSkipReason(t *testing.T) {
	for _, tc := range []struct{ output, want string }{
		{"=== RUN   TestX\n    x_test.go:12: promtool not installed\n--- SKIP: TestX (0.00s)\n", "promtool not installed"},
		{"=== RUN   TestX\n    x_test.go:3: a log line\n    x_test.go:4: the reason\n--- SKIP: TestX (0.00s)\n", "the reason"},
		{"=== RUN   TestX\n    x_test.go:3: first\n        second\n--- SKIP: TestX (0.00s)\n", "first second"},
		{"=== RUN   TestX/sub\n=== PAUSE TestX/sub\n=== CONT  TestX/sub\n    x_test.go:9: inner\n--- SKIP: TestX/sub (0.00s)\n", "inner"},
		{"=== RUN   TestX\n--- SKIP: TestX (0.00s)\n", ""},
	} {
		if got := skipReason(tc.output); got != tc.want {
			t.Errorf("skipReason(%q) = %q, want %q", tc.output, got, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nonsense"}, {"record"}, {"record", "-step", "a/b"}, {"summary", "a", "b"}} {
		var out, errOut bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errOut); code != 2 {
			t.Errorf("testreport %q exited %d, want 2", args, code)
		}
	}
}

func record(t *testing.T, stream, step, dir string) (printed string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run([]string{"record", "-step", step, "-out", dir}, strings.NewReader(stream), &out, &errOut)
	if errOut.Len() > 0 {
		t.Errorf("record wrote to stderr: %s", errOut.String())
	}
	return out.String(), code
}

func summarize(t *testing.T, args ...string) (lines []string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"summary"}, args...), nil, &out, &errOut)
	if errOut.Len() > 0 {
		t.Errorf("summary wrote to stderr: %s", errOut.String())
	}
	lines = strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	return lines, code
}

// readSummaryInputs returns the recorded results as "outcome name: reason",
// names relative to the fixture module.
func readSummaryInputs(t *testing.T, dir string) []string {
	t.Helper()
	results, err := readResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range results {
		s := r.Outcome + " " + strings.TrimPrefix(r.name(), fixture)
		if r.Reason != "" {
			s += ": " + r.Reason
		}
		out = append(out, s)
	}
	return out
}

func recordedStream(t *testing.T, sc scenario) string {
	t.Helper()
	path := filepath.Join("testdata", sc.name+".json")
	if *update {
		stream := goTestJSON(t, writeFixtures(t), sc.args)
		if err := os.WriteFile(path, []byte(stream), 0o644); err != nil {
			t.Fatal(err)
		}
		return stream
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestRecordedStreams -update writes it)", err)
	}
	return string(b)
}

func writeFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range fixtures {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// goTestJSON runs go test -json in the fixture module and returns stdout and
// stderr merged, as `go test -json 2>&1 | testreport record` reads them.
func goTestJSON(t *testing.T, dir string, args []string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"test", "-json", "-count=1"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("go test: %v\n%s", err, out)
	}
	return string(out)
}
