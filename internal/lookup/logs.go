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
	if ts, _ := lineField(m, "timestamp").(string); ts != "" {
		l.Time, _ = time.Parse(time.RFC3339Nano, ts)
	}
	l.Level, _ = lineField(m, "level").(string)
	l.Message, _ = lineField(m, "message").(string)
	l.Service, _ = m["service"].(string)
	if tr, ok := m["tracing"].(map[string]any); ok {
		l.SpanID, _ = tr["span_id"].(string)
	}
	return l, true
}

// Volume is how much a set of JSON log files holds and over what time.
type Volume struct {
	Files       []string  `json:"files"`
	Bytes       int64     `json:"bytes"`
	First, Last time.Time `json:"-"`
}

// BytesPerSecond is the rate at which the files grew between their first
// and last lines (0 when they cover no time yet).
func (v Volume) BytesPerSecond() float64 {
	d := v.Last.Sub(v.First).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(v.Bytes) / d
}

// LogVolume sums the sizes of the files and finds the times of their first
// and last lines (their timestamp).
func LogVolume(paths []string) (Volume, error) {
	v := Volume{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return v, err
		}
		first, last, err := firstAndLastTime(p, st.Size())
		if err != nil {
			return v, err
		}
		v.Files = append(v.Files, p)
		v.Bytes += st.Size()
		if !first.IsZero() && (v.First.IsZero() || first.Before(v.First)) {
			v.First = first
		}
		if last.After(v.Last) {
			v.Last = last
		}
	}
	return v, nil
}

func firstAndLastTime(path string, size int64) (time.Time, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	defer f.Close()
	head, err := readLine(bufio.NewReader(f))
	if err != nil && !errors.Is(err, io.EOF) {
		return time.Time{}, time.Time{}, err
	}
	const tailSize = 256 << 10
	off := max(0, size-tailSize)
	tail := make([]byte, size-off)
	if _, err := f.ReadAt(tail, off); err != nil && !errors.Is(err, io.EOF) {
		return time.Time{}, time.Time{}, err
	}
	lines := bytes.Split(bytes.TrimRight(tail, "\n"), []byte("\n"))
	return lineTime(head), lineTime(lines[len(lines)-1]), nil
}

func lineTime(b []byte) time.Time {
	var l struct {
		Plain string `json:"timestamp"`
		At    string `json:"@timestamp"`
	}
	if json.Unmarshal(b, &l) != nil {
		return time.Time{}
	}
	ts := l.Plain
	if ts == "" {
		ts = l.At
	}
	t, _ := time.Parse(time.RFC3339Nano, ts)
	return t
}

// lineField reads timestamp, level or message from a line in either style
// the services write: the plain names (the default) or the @ names
// (LOG_FIELD_NAMES=at).
func lineField(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	return m["@"+name]
}
