package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"
)

// encoderOutput writes each record as one JSON line with a hand-written
// encoder: the same line as newJSONOutput, without slog.JSONHandler's
// per-field ReplaceAttr calls and reflection. The handlers before it give
// it whole records (scopeHandler applies WithAttrs/WithGroup), so it only
// encodes; its own WithAttrs and WithGroup go through a scopeHandler too.
type encoderOutput struct {
	out                       io.Writer
	mu                        *sync.Mutex
	level                     slog.Leveler
	timeKey, levelKey, msgKey string
	service                   []byte // ,"service":"..." encoded once
	maxValue                  int
}

func newEncoderOutput(out io.Writer, opts HandlerOptions) *encoderOutput {
	t, l, m := opts.FieldNames.Keys()
	svc := append([]byte(`,"service":`), appendJSONString(nil, opts.Service)...)
	return &encoderOutput{out: out, mu: new(sync.Mutex), level: opts.Level, timeKey: t, levelKey: l, msgKey: m, service: svc, maxValue: opts.MaxValueBytes}
}

func (h *encoderOutput) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }
func (h *encoderOutput) WithAttrs(as []slog.Attr) slog.Handler        { return scoped(h).WithAttrs(as) }
func (h *encoderOutput) WithGroup(name string) slog.Handler           { return scoped(h).WithGroup(name) }

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (h *encoderOutput) Handle(_ context.Context, r slog.Record) error {
	bp := lineBufs.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	comma := false
	if !r.Time.IsZero() {
		b = appendJSONString(b, h.timeKey)
		b = append(b, ':')
		b = appendJSONString(b, formatTime(r.Time))
		comma = true
	}
	if comma {
		b = append(b, ',')
	}
	b = appendJSONString(b, h.levelKey)
	b = append(b, ':', '"')
	b = append(b, levelName(r.Level)...)
	b = append(b, '"', ',')
	b = appendJSONString(b, h.msgKey)
	b = append(b, ':')
	b = appendJSONString(b, truncate(r.Message, h.maxValue))
	b = append(b, h.service...)
	r.Attrs(func(a slog.Attr) bool {
		b = h.attr(b, a)
		return true
	})
	b = append(b, '}', '\n')
	h.mu.Lock()
	_, err := h.out.Write(b)
	h.mu.Unlock()
	*bp = b
	if cap(b) <= 64<<10 { // one huge line must not pin its buffer in the pool
		lineBufs.Put(bp)
	}
	return err
}

// attr appends ,"key":value; empty attributes and empty groups are left
// out, a group with an empty key is inlined (slog's rules).
func (h *encoderOutput) attr(b []byte, a slog.Attr) []byte {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		as := v.Group()
		if !hasFields(as) {
			return b
		}
		if a.Key == "" {
			for _, ga := range as {
				b = h.attr(b, ga)
			}
			return b
		}
		b = append(b, ',')
		b = appendJSONString(b, a.Key)
		b = append(b, ':', '{')
		start := len(b)
		for _, ga := range as {
			b = h.attr(b, ga)
		}
		if len(b) > start && b[start] == ',' { // the group's first field has no comma before it
			b = append(b[:start], b[start+1:]...)
		}
		return append(b, '}')
	}
	if a.Key == "" && v.Kind() == slog.KindAny && v.Any() == nil {
		return b
	}
	b = append(b, ',')
	b = appendJSONString(b, a.Key)
	b = append(b, ':')
	return h.value(b, a.Key, v)
}

func hasFields(as []slog.Attr) bool {
	for _, a := range as {
		if a.Value.Kind() != slog.KindGroup {
			if a.Key != "" || a.Value.Any() != nil {
				return true
			}
			continue
		}
		if hasFields(a.Value.Group()) {
			return true
		}
	}
	return false
}

func (h *encoderOutput) value(b []byte, key string, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		limit := h.maxValue
		if key == "stack_trace" {
			limit *= 4
		}
		return appendJSONString(b, truncate(v.String(), limit))
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		return appendJSONFloat(b, v.Float64())
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return appendJSONFloat(b, v.Duration().Seconds())
	case slog.KindTime:
		return appendJSONString(b, formatTime(v.Time()))
	}
	switch x := v.Any().(type) {
	case nil:
		return append(b, "null"...)
	case error:
		return appendJSONString(b, truncate(scrub(safeErrorText(x)), h.maxValue))
	}
	return appendJSONString(b, truncate(anyText(v.Any()), h.maxValue))
}

// anyText is the text of a value nothing before the output turned into a
// group or scalar: its JSON, else its %+v; never a panic.
func anyText(x any) (s string) {
	defer func() {
		if recover() != nil {
			s = "<nil>"
		}
	}()
	if raw, err := json.Marshal(x); err == nil {
		return string(raw)
	}
	return fmt.Sprintf("%+v", x)
}

// appendJSONFloat: NaN and the infinities, which JSON cannot hold, become
// strings; 1e300 stays short.
func appendJSONFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Control characters (newlines
// included) are escaped, so a value can never start a forged line; invalid
// UTF-8 becomes U+FFFD; U+2028/U+2029 are escaped for JavaScript viewers.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
