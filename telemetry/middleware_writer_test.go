package telemetry

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// serveThroughMiddleware starts a real server with h behind the middleware.
func serveThroughMiddleware(t *testing.T, pattern string, h http.HandlerFunc) (*httptest.Server, *syncBuffer) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, h)
	logs := &syncBuffer{}
	srv := httptest.NewServer(NewMiddleware(WithLogger(newTestLogger(logs)))(mux))
	t.Cleanup(srv.Close)
	return srv, logs
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(NewHandler(w, HandlerOptions{Service: "test", Level: slog.LevelDebug}))
}

func TestFlushStreamsThroughMiddleware(t *testing.T) {
	clientRead := make(chan struct{})
	handlerDone := make(chan struct{})
	srv, logs := serveThroughMiddleware(t, "GET /stream", func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		f, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "no Flusher", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		f.Flush()
		// The second chunk waits until the client has read the first: without
		// a working Flush the first never leaves the server and this times out.
		select {
		case <-clientRead:
		case <-time.After(10 * time.Second):
			_, _ = io.WriteString(w, "data: timeout\n\n")
			return
		}
		_, _ = io.WriteString(w, "data: second\n\n")
	})

	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := bufio.NewReader(resp.Body)
	first, err := body.ReadString('\n')
	if err != nil || first != "data: first\n" {
		t.Fatalf("first line %q, %v", first, err)
	}
	select {
	case <-handlerDone:
		t.Fatal("the handler returned before the client read the first chunk")
	default:
	}
	close(clientRead)
	rest, _ := io.ReadAll(body)
	if got := string(rest); got != "\ndata: second\n\n" {
		t.Fatalf("rest %q", got)
	}
	<-handlerDone
	waitForAccessLine(t, logs, func(l map[string]any) bool {
		resp, _ := l["response"].(map[string]any)
		return resp["status"] == float64(200) && resp["size"] == float64(len("data: first\n\ndata: second\n\n"))
	})
}

func TestHijackThroughMiddleware(t *testing.T) {
	srv, _ := serveThroughMiddleware(t, "GET /upgrade", func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "no Hijacker", http.StatusInternalServerError)
			return
		}
		conn, rw, err := hj.Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo: " + line)
		_ = rw.Flush()
	})

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "GET /upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, _ = io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
		t.Fatalf("after the upgrade: %q, %v", line, err)
	}
}

func TestReaderFromKeptAndCounted(t *testing.T) {
	const body = "0123456789abcdef"
	srv, logs := serveThroughMiddleware(t, "GET /copy", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(io.ReaderFrom); !ok {
			http.Error(w, "no ReaderFrom", http.StatusInternalServerError)
			return
		}
		_, _ = io.Copy(w, strings.NewReader(body))
	})
	resp, err := http.Get(srv.URL + "/copy")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != body {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	waitForAccessLine(t, logs, func(l map[string]any) bool {
		resp, _ := l["response"].(map[string]any)
		return resp["size"] == float64(len(body))
	})

	// And the call reaches the writer underneath, which does the copying.
	under := &readFromWriter{ResponseRecorder: httptest.NewRecorder()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /copy", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader(body))
	})
	NewMiddleware(WithLogger(newTestLogger(&syncBuffer{})))(mux).ServeHTTP(under, httptest.NewRequest("GET", "/copy", nil))
	if under.readFromCalls != 1 || under.Body.String() != body {
		t.Errorf("ReadFrom calls %d, body %q", under.readFromCalls, under.Body)
	}
}

// The handler gets exactly the optional interfaces of the writer below:
// claiming Hijacker over an HTTP/2 stream would break a websocket library's
// own fallback.
func TestWriterInterfacesMatchTheWriterBelow(t *testing.T) {
	var flusher, hijacker, readerFrom bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		_, flusher = w.(http.Flusher)
		_, hijacker = w.(http.Hijacker)
		_, readerFrom = w.(io.ReaderFrom)
	})
	h := NewMiddleware(WithLogger(newTestLogger(&syncBuffer{})))(mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) // a Flusher only
	if !flusher || hijacker || readerFrom {
		t.Errorf("over a ResponseRecorder: Flusher %v, Hijacker %v, ReaderFrom %v; want true, false, false", flusher, hijacker, readerFrom)
	}
	h.ServeHTTP(&readFromWriter{ResponseRecorder: httptest.NewRecorder()}, httptest.NewRequest("GET", "/", nil))
	if !flusher || hijacker || !readerFrom {
		t.Errorf("over a ReaderFrom: Flusher %v, Hijacker %v, ReaderFrom %v; want true, false, true", flusher, hijacker, readerFrom)
	}
}

type readFromWriter struct {
	*httptest.ResponseRecorder
	readFromCalls int
}

func (w *readFromWriter) ReadFrom(src io.Reader) (int64, error) {
	w.readFromCalls++
	return io.Copy(w.ResponseRecorder, src)
}

// waitForAccessLine polls the log until an access line matches: net/http
// may finish the handler after the client has its response.
func waitForAccessLine(t *testing.T, logs *syncBuffer, match func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range logs.lines(t) {
			if _, ok := l["request"]; ok && match(l) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching access line in %d lines", len(logs.lines(t)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
