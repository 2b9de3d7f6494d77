package telemetry

import (
	"net/http"
	"net/url"
	"strings"
)

// The middleware matches a request against the ServeMux once, with
// ServeMux.Handler, and calls the matched handler itself. ServeMux.Handler
// returns the handler and its pattern but not the wildcard values, which
// only ServeMux.ServeHTTP stores in the request (a second match). So the
// values are read here from the path, by the positions of the pattern's
// wildcards, the way the mux reads them: a {name} segment unescaped, a
// {name...} the unescaped rest of the path. The mux has already chosen the
// pattern, so this only splits the path; TestPathValuesAsServeMux holds it
// to the mux's answers.

// wildcard is one named wildcard of a pattern.
type wildcard struct {
	name    string
	segment int  // its position among the path's segments
	rest    bool // {name...}
}

// setPathValues sets r's path values for pattern, as the mux would have.
func (m *middleware) setPathValues(r *http.Request, pattern string) {
	if pattern == "" {
		return
	}
	var wilds []wildcard
	if w, ok := m.wildcards.Load(pattern); ok {
		wilds = w.([]wildcard)
	} else {
		wilds = patternWildcards(pattern)
		m.wildcards.Store(pattern, wilds) // one entry per registered pattern
	}
	if len(wilds) == 0 {
		return
	}
	rest := r.URL.EscapedPath()
	for i := 0; len(wilds) > 0 && strings.HasPrefix(rest, "/"); i++ {
		seg, after := rest[1:], ""
		if j := strings.IndexByte(seg, '/'); j >= 0 {
			seg, after = seg[:j], seg[j:]
		}
		if wc := wilds[0]; i == wc.segment {
			if wc.rest {
				r.SetPathValue(wc.name, pathUnescape(rest[1:]))
				return
			}
			r.SetPathValue(wc.name, pathUnescape(seg))
			wilds = wilds[1:]
		}
		rest = after
	}
}

// patternWildcards lists the named wildcards of a ServeMux pattern
// ("GET example.com/a/{id}/{path...}").
func patternWildcards(pattern string) []wildcard {
	path := routePath(pattern)
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	var out []wildcard
	for i, seg := range strings.Split(path[1:], "/") {
		if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' || seg == "{$}" {
			continue
		}
		name := seg[1 : len(seg)-1]
		name, rest := strings.CutSuffix(name, "...")
		if name != "" {
			out = append(out, wildcard{name: strings.TrimSpace(name), segment: i, rest: rest})
		}
	}
	return out
}

// pathUnescape is the mux's: an invalid escape keeps the text as it is.
func pathUnescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
