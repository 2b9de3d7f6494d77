package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var stackServices = []string{"api-gateway", "workflow-agent", "workflow-engine"}

// lineSink collects a process's or a service's output, safe for concurrent writes.
type lineSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lineSink) reset() { s.mu.Lock(); s.b.Reset(); s.mu.Unlock() }

// lines decodes the complete lines written so far as JSON lines (see
// decodeLines); a line still being written is left for the next call.
func (s *lineSink) lines(t *testing.T, who string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	return decodeLines(t, who, b[:bytes.LastIndexByte(b, '\n')+1])
}

// tail returns the last n bytes, for failure reports.
func (s *lineSink) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// decodeLines parses b as one JSON object per line; a line that is not one
// is a test error.
func decodeLines(t *testing.T, who string, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("%s: line is not one JSON object: %v: %s", who, err, sc.Text())
			continue
		}
		out = append(out, m)
	}
	return out
}

// fileTail reads what is appended to a file after the tail was made, so a
// test sees only the lines its own run wrote, never an earlier run's.
type fileTail struct {
	path   string
	offset int64
}

func tailOf(path string) (*fileTail, error) {
	st, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return &fileTail{path: path}, nil
	case err != nil:
		return nil, err
	}
	return &fileTail{path: path, offset: st.Size()}, nil
}

func newFileTail(t *testing.T, path string) *fileTail {
	t.Helper()
	ft, err := tailOf(path)
	if err != nil {
		t.Fatal(err)
	}
	return ft
}

// lines decodes the complete JSON lines appended since the tail was made.
// A file that shrank was started anew (a restarted process): all of it is new.
func (ft *fileTail) lines(t *testing.T) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(ft.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) >= ft.offset {
		b = b[ft.offset:]
	}
	return decodeLines(t, filepath.Base(ft.path), b[:bytes.LastIndexByte(b, '\n')+1])
}

// runLogs are the stack services' log files as of the start of this test
// binary (see TestMain).
var runLogs = map[string]*fileTail{}

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for _, svc := range stackServices {
		ft, err := tailOf(filepath.Join(filepath.Dir(wd), ".run", "logs", svc+".log"))
		if err != nil {
			panic(err)
		}
		runLogs[svc] = ft
	}
	os.Exit(m.Run())
}

// stackLogLines is what a stack service wrote to .run/logs/<svc>.log since
// this test binary started.
func stackLogLines(t *testing.T, svc string) []map[string]any {
	t.Helper()
	return runLogs[svc].lines(t)
}
