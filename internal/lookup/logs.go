package lookup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// LogLine is one JSON log line written while serving a request.
type LogLine struct {
	Time    time.Time      `json:"time"`
	Level   string         `json:"level"`
	Message string         `json:"message"`
	Service string         `json:"service"`
	SpanID  string         `json:"span_id,omitempty"`
	File    string         `json:"file"`
	Fields  map[string]any `json:"fields"` // the whole line as written
}

// maxLogLine bounds one line; the handler keeps lines far below it.
const maxLogLine = 4 << 20

// SearchLogs returns the lines of the files matching the glob patterns whose
// tracking_id is id, ordered by time. Lines that are not JSON are passed over.
func SearchLogs(patterns []string, id string) ([]LogLine, []string, error) {
	var files []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	var out []LogLine
	needle := []byte(id)
	for _, f := range files {
		lines, err := searchFile(f, needle, id)
		if err != nil {
			return nil, files, err
		}
		out = append(out, lines...)
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].Time.Before(out[k].Time) })
	return out, files, nil
}

func searchFile(path string, needle []byte, id string) ([]LogLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []LogLine
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := readLine(r)
		if len(line) > 0 && bytes.Contains(line, needle) {
			if l, ok := parseLogLine(line, id); ok {
				l.File = path
				out = append(out, l)
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// readLine returns the next line without its newline; a line longer than
// maxLogLine is cut there (it cannot be one of ours).
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) <= maxLogLine {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}

func parseLogLine(b []byte, id string) (LogLine, bool) {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m["tracking_id"] != id {
		return LogLine{}, false
	}
	l := LogLine{Fields: m}
	if ts, _ := m["@timestamp"].(string); ts != "" {
		l.Time, _ = time.Parse(time.RFC3339Nano, ts)
	}
	l.Level, _ = m["@level"].(string)
	l.Message, _ = m["@message"].(string)
	l.Service, _ = m["service"].(string)
	if tr, ok := m["tracing"].(map[string]any); ok {
		l.SpanID, _ = tr["span_id"].(string)
	}
	return l, true
}
