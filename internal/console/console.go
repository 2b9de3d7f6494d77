// Package console is the web page for looking at one request: find it by
// tracking id or in the list of recent requests, then see its waterfall, its
// log lines, its database rows and its services' health together. Pages are
// rendered on the server with html/template and inline SVG: no script, no
// build step, nothing fetched from the internet.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

//go:embed templates/*.html
var templateFiles embed.FS

// Config says where the console looks.
type Config struct {
	Jaeger      lookup.Jaeger
	Prometheus  lookup.Prometheus
	LogPatterns []string // globs of the services' JSON log files
	DataDir     string   // the gateway's SQLite folder, when DatabaseURL is empty
	DatabaseURL string
	// StartHint is the command that starts the stack, shown when a part of it
	// does not answer; empty: make demo.
	StartHint string
	// Logger receives one line per failed page; nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests fix it); nil: time.Now.
	Now func() time.Time
}

// Server serves the console's pages.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New builds the console with its routes.
func New(cfg Config) (*Server, error) {
	if cfg.StartHint == "" {
		cfg.StartHint = "make demo"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if path.Base(n) == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		s.pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	s.mux.HandleFunc("GET /{$}", s.requestsPage)
	s.mux.HandleFunc("GET /find", s.find)
	s.mux.HandleFunc("GET /requests/{id}", s.requestPage)
	s.mux.HandleFunc("GET /services", s.servicesPage)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("/", s.notFound)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// problem is something the page could not show, and what to do about it.
type problem struct {
	Source  string // Jaeger, Prometheus, logs, database, input
	Message string
	Fix     string // a command or an action; may be empty
}

// page is what every page shows around its content.
type page struct {
	Title    string
	Nav      string // requests, services: the current section
	Query    string // what the find box shows
	Problems []problem
	Sources  []source
}

type source struct{ Name, Where string }

func (s *Server) basePage(title, nav string) page {
	return page{Title: title, Nav: nav, Sources: []source{
		{"Jaeger", s.cfg.Jaeger.BaseURL},
		{"Prometheus", s.cfg.Prometheus.BaseURL},
		{"logs", strings.Join(s.cfg.LogPatterns, ", ")},
		{"database", s.databaseWhere()},
	}}
}

func (s *Server) databaseWhere() string {
	if s.cfg.DatabaseURL != "" {
		if u, err := url.Parse(s.cfg.DatabaseURL); err == nil {
			return u.Redacted()
		}
		return "DATABASE_URL"
	}
	return path.Join(s.cfg.DataDir, "ai-teams.db")
}

// unreachable describes a backend that did not answer, with the command
// that starts it.
func (s *Server) unreachable(name string, err error) problem {
	return problem{Source: name, Message: err.Error(), Fix: fmt.Sprintf("Is the stack running? Start it with `%s` (or `scripts/stack.sh up`); `scripts/stack.sh status` shows what is up.", s.cfg.StartHint)}
}

// render executes a page into a buffer first, so a template error is a
// clear 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, data); err != nil {
		s.cfg.Logger.Error("console page failed", "page", name, "path", r.URL.Path, "error", err)
		http.Error(w, "the console could not draw this page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// find takes what a person pasted and opens that request.
func (s *Server) find(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("id")
	id, err := lookup.ParseTrackingID(q)
	if err != nil {
		s.renderBadID(w, r, q, err)
		return
	}
	http.Redirect(w, r, "/requests/"+id, http.StatusSeeOther)
}

func (s *Server) renderBadID(w http.ResponseWriter, r *http.Request, input string, err error) {
	p := s.basePage("Not a tracking id", "")
	p.Query = input
	p.Problems = []problem{{Source: "input", Message: err.Error(),
		Fix: "Paste the X-Tracking-ID header of a response (32 hex digits), a traceparent, or a link that contains the id."}}
	s.render(w, r, http.StatusBadRequest, "message", p)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	p := s.basePage("Page not found", "")
	p.Problems = []problem{{Source: "address", Message: fmt.Sprintf("There is no page at %s.", r.URL.Path),
		Fix: "Requests are at /requests/<tracking_id>; the list of recent requests is at /, service health at /services."}}
	s.render(w, r, http.StatusNotFound, "message", p)
}

// backendContext bounds the lookups behind one page.
func backendContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

func isNotFound(err error) bool { return errors.Is(err, lookup.ErrNotFound) }

var templateFuncs = template.FuncMap{
	"human": human,
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"color": serviceColor,
	"long":  longDuration,
}
