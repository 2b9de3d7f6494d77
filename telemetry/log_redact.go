package telemetry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// RedactedValue replaces a secret.
const RedactedValue = "[REDACTED]"

// redactHandler keeps secrets out of the lines and of everything after it:
// the value of any field whose key, or whose enclosing group's key, names a
// secret (in any case style: db_password, githubToken, X-API-Key), and any
// value that looks like a credential under an innocent key (Bearer and Basic
// credentials, passwords in URLs, JWTs, AWS access key ids). Maps, structs,
// http.Header and other composite values become groups first, so the rule
// holds at any depth.
type redactHandler struct{ next slog.Handler }

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler          { return scoped(h).WithAttrs(as) }
func (h redactHandler) WithGroup(name string) slog.Handler             { return scoped(h).WithGroup(name) }

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := scrub(r.Message)
	// Most lines hold no secret: look first, copy only when something changes.
	changed := msg != r.Message
	if !changed {
		r.Attrs(func(a slog.Attr) bool {
			_, changed = redactAttr(a, false, 0)
			return !changed
		})
	}
	if !changed {
		return h.next.Handle(ctx, r)
	}
	nr := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		ra, _ := redactAttr(a, false, 0)
		nr.AddAttrs(ra)
		return true
	})
	return h.next.Handle(ctx, nr)
}

func redactAttrs(as []slog.Attr, secretGroup bool, depth int) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i], _ = redactAttr(a, secretGroup, depth)
	}
	return out
}

// maxDepth bounds how deep composite values are followed (a map may hold itself).
const maxDepth = 12

// redactAttr returns a with secrets replaced, and whether anything changed.
func redactAttr(a slog.Attr, secretGroup bool, depth int) (slog.Attr, bool) {
	v := a.Value
	changed := false
	if v.Kind() == slog.KindLogValuer {
		if _, ok := v.Any().(errorAttr); !ok {
			v, changed = v.Resolve(), true
		}
	}
	secret := secretGroup || isSecretKey(a.Key)
	if secret && isDescriptorKey(a.Key) && v.Kind() != slog.KindGroup {
		secret = false // api_key{id, client_name}: the key's name, not the key
	}
	switch v.Kind() {
	case slog.KindGroup:
		as := v.Group()
		if depth >= maxDepth {
			return slog.String(a.Key, "[too deep]"), true
		}
		out := as
		for i, ga := range as {
			ra, c := redactAttr(ga, secret, depth+1)
			if c {
				if !changed {
					out = slices.Clone(as)
					changed = true
				}
				out[i] = ra
			}
		}
		if changed {
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}, true
		}
		return a, false
	case slog.KindString:
		s := v.String()
		if secret {
			return slog.String(a.Key, RedactedValue), true
		}
		if c := scrub(s); c != s {
			return slog.String(a.Key, c), true
		}
	case slog.KindAny, slog.KindLogValuer:
		if _, ok := v.Any().(errorAttr); ok {
			return a, changed // the error handler renders it, scrubbed
		}
		if err, ok := v.Any().(error); ok {
			if secret {
				return slog.String(a.Key, RedactedValue), true
			}
			if text := safeErrorText(err); scrub(text) != text {
				return slog.Attr{Key: a.Key, Value: slog.AnyValue(scrubbedError{err})}, true
			}
			return a, changed
		}
		nv := normalize(v.Any(), depth)
		if nv.Kind() == slog.KindGroup || nv.Kind() == slog.KindString {
			ra, _ := redactAttr(slog.Attr{Key: a.Key, Value: nv}, secretGroup, depth)
			return ra, true
		}
		if secret && nv.Kind() != slog.KindAny {
			return slog.String(a.Key, RedactedValue), true
		}
		return slog.Attr{Key: a.Key, Value: nv}, true
	default:
		if secret {
			return slog.String(a.Key, RedactedValue), true
		}
	}
	if changed {
		return slog.Attr{Key: a.Key, Value: v}, true
	}
	return a, false
}

// scrubbedError is an error whose text has its credentials scrubbed; the
// original stays reachable for errors.As and the span.
type scrubbedError struct{ err error }

func (e scrubbedError) Error() string { return scrub(safeErrorText(e.err)) }
func (e scrubbedError) Unwrap() error { return e.err }

// normalize turns a composite value into what the handlers can walk: a map
// or struct becomes a group (keys sorted), a slice a JSON array of
// normalized elements, a Stringer its text; a typed nil becomes "<nil>".
func normalize(x any, depth int) slog.Value {
	if x == nil {
		return slog.AnyValue(nil)
	}
	rv := reflect.ValueOf(x)
	if isNilPointer(rv) {
		return slog.StringValue("<nil>")
	}
	switch t := x.(type) {
	case []byte:
		return slog.StringValue(string(t))
	case json.Marshaler:
		return fromJSON(x, depth)
	case fmt.Stringer:
		return slog.StringValue(safeString(t))
	}
	if depth >= maxDepth {
		return slog.StringValue("[too deep]")
	}
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return fromJSON(x, depth)
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		attrs := make([]slog.Attr, 0, len(keys))
		for _, k := range keys {
			attrs = append(attrs, slog.Attr{Key: k.String(), Value: normalizeElem(rv.MapIndex(k), depth+1)})
		}
		return slog.GroupValue(attrs...)
	case reflect.Slice, reflect.Array:
		if rv.Len() == 1 { // http.Header's one value per field reads best as that value
			return normalizeElem(rv.Index(0), depth+1)
		}
		attrs := make([]slog.Attr, 0, rv.Len())
		for i := range rv.Len() {
			attrs = append(attrs, slog.Attr{Key: fmt.Sprint(i), Value: normalizeElem(rv.Index(i), depth+1)})
		}
		return slog.GroupValue(attrs...)
	case reflect.Struct, reflect.Pointer, reflect.Interface:
		return fromJSON(x, depth)
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return slog.StringValue(fmt.Sprintf("%T", x))
	}
	return slog.AnyValue(x)
}

func normalizeElem(v reflect.Value, depth int) slog.Value {
	if !v.IsValid() || !v.CanInterface() {
		return slog.AnyValue(nil)
	}
	x := v.Interface()
	switch y := x.(type) {
	case string:
		return slog.StringValue(y)
	case bool:
		return slog.BoolValue(y)
	case int:
		return slog.IntValue(y)
	case int64:
		return slog.Int64Value(y)
	case float64:
		return slog.Float64Value(y)
	}
	return normalize(x, depth)
}

// fromJSON reads a value through its JSON form, as encoding/json would write it.
func fromJSON(x any, depth int) (v slog.Value) {
	defer func() {
		if recover() != nil {
			v = slog.StringValue(fmt.Sprintf("<%T that cannot be written>", x))
		}
	}()
	raw, err := json.Marshal(x)
	if err != nil {
		return slog.StringValue(fmt.Sprintf("%+v", x))
	}
	var decoded any
	if err := json.Unmarshal(raw, &decoded); err != nil {
		return slog.StringValue(string(raw))
	}
	return normalizeElem(reflect.ValueOf(decoded), depth)
}

func isNilPointer(rv reflect.Value) bool {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// safeString calls String, which may panic on a typed nil receiver.
func safeString(s fmt.Stringer) (out string) {
	defer func() {
		if recover() != nil {
			out = "<nil>"
		}
	}()
	return s.String()
}

// safeErrorText calls Error, which may panic on a typed nil receiver.
func safeErrorText(err error) (out string) {
	defer func() {
		if recover() != nil {
			out = "<nil>"
		}
	}()
	return err.Error()
}

// secretWords name secrets wherever they appear among a key's words.
var secretWords = map[string]bool{
	"password": true, "passwd": true, "passphrase": true, "pwd": true, "secret": true, "secrets": true,
	"token": true, "cookie": true, "cookies": true, "authorization": true, "credential": true,
	"credentials": true, "bearer": true, "jwt": true, "privatekey": true, "apikey": true, "accesskey": true,
	"secretkey": true, "sessionkey": true, "signingkey": true, "encryptionkey": true, "masterkey": true,
	"connectionstring": true, "dsn": true,
}

// keyPrefixes make a secret with a following "key": api_key, accessKey, ...
var keyPrefixes = map[string]bool{"api": true, "access": true, "private": true, "secret": true, "session": true, "signing": true, "encryption": true, "master": true}

// descriptorWords end keys that describe a secret without holding it.
var descriptorWords = map[string]bool{"id": true, "ids": true, "name": true, "type": true, "kind": true, "count": true, "length": true, "ttl": true, "expiry": true, "expires": true}

// keyWords splits a key into lowercase words at case changes and at any
// character that is not a letter or digit: "githubToken" → github token,
// "X-API-Key" → x api key, "aws_secret_access_key" → aws secret access key.
// It runs on every field of every line and does not allocate: each word is
// returned in the scanner's own buffer, valid until the next call.
type keyWords struct {
	k   string
	i   int
	buf [64]byte
}

func (s *keyWords) next() ([]byte, bool) {
	n := 0
	for ; s.i < len(s.k); s.i++ {
		c := s.k[s.i]
		isUpper := 'A' <= c && c <= 'Z'
		if !isUpper && !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') {
			if n > 0 {
				s.i++
				return s.buf[:n], true
			}
			continue
		}
		// A new word at lower→Upper ("githubToken") and at the last capital of a run before a lower ("APIKey").
		if isUpper && n > 0 {
			prev := s.k[s.i-1]
			nextLower := s.i+1 < len(s.k) && 'a' <= s.k[s.i+1] && s.k[s.i+1] <= 'z'
			if 'a' <= prev && prev <= 'z' || 'A' <= prev && prev <= 'Z' && nextLower {
				return s.buf[:n], true
			}
		}
		if isUpper {
			c += 'a' - 'A'
		}
		if n < len(s.buf) {
			s.buf[n] = c
			n++
		}
	}
	return s.buf[:n], n > 0
}

// isSecretKey: one of the key's words, or two adjacent words, name a secret.
func isSecretKey(k string) bool {
	words := keyWords{k: k}
	var pair [128]byte // the previous word, then the current one
	prev := 0
	for {
		w, ok := words.next()
		if !ok {
			return false
		}
		both := append(pair[:prev], w...)
		if secretWords[string(w)] || (string(w) == "key" && keyPrefixes[string(pair[:prev])]) || (prev > 0 && secretWords[string(both)]) {
			return true
		}
		prev = copy(pair[:], w)
	}
}

// isDescriptorKey: the key's last word says it describes, not holds (token_type, api_key_id).
func isDescriptorKey(k string) bool {
	words := keyWords{k: k}
	descriptor := false
	for {
		w, ok := words.next()
		if !ok {
			return descriptor
		}
		descriptor = descriptorWords[string(w)]
	}
}

var (
	bearerRe  = regexp.MustCompile(`(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]{6,}=*`)
	basicRe   = regexp.MustCompile(`(?i)\b(basic)(\s+)([A-Za-z0-9+/]{4,}={0,2})`)
	urlUserRe = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):([^@\s/]+)@`)
	jwtRe     = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	awsKeyRe  = regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)
)

// scrub replaces credentials inside a text and leaves the rest: "Bearer
// [REDACTED]", "postgres://app:[REDACTED]@db/x".
func scrub(s string) string {
	if !mightHoldCredential(s) {
		return s
	}
	s = bearerRe.ReplaceAllString(s, "${1}${2}"+RedactedValue)
	s = basicRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := basicRe.FindStringSubmatch(m)
		if dec, err := base64.StdEncoding.DecodeString(sub[3]); err == nil && strings.Contains(string(dec), ":") {
			return sub[1] + sub[2] + RedactedValue
		}
		return m // "basic workflow" is English, not a credential
	})
	s = urlUserRe.ReplaceAllString(s, "${1}:"+RedactedValue+"@")
	s = jwtRe.ReplaceAllString(s, RedactedValue)
	return awsKeyRe.ReplaceAllString(s, RedactedValue)
}

// mightHoldCredential is scrub's cheap first look: most values have none
// of the markers, and they skip the regular expressions.
func mightHoldCredential(s string) bool {
	for i := 0; i+3 <= len(s); i++ {
		switch c := s[i] | 0x20; {
		case c == 'b' && i+5 <= len(s) && (strings.EqualFold(s[i:i+5], "basic") || i+6 <= len(s) && strings.EqualFold(s[i:i+6], "bearer")):
			return true
		case s[i] == ':' && s[i+1] == '/' && s[i+2] == '/':
			return true
		case s[i] == 'e' && s[i+1] == 'y' && s[i+2] == 'J':
			return true
		case s[i] == 'A' && i+4 <= len(s) && (s[i+1:i+4] == "KIA" || s[i+1:i+4] == "SIA"):
			return true
		}
	}
	return false
}
