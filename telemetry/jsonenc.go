package telemetry

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The append* functions encode JSON into a caller-owned buffer. They are the
// hot path of every log line, so they avoid reflection and allocation for the
// kinds slog carries natively.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Control characters (newlines
// included) are escaped, so a value can never start a forged log line, and
// invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
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
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 end lines in JavaScript-based viewers.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// safeASCII marks the ASCII bytes written as they are inside a JSON string.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != 0x7f
	}
	return t
}()

// secondCache holds the formatted "YYYY-MM-DDTHH:MM:SS." of the last second
// seen: consecutive lines mostly share it, and formatting a date is a
// noticeable part of a line's cost.
type secondCache struct {
	unix   int64
	prefix [20]byte
}

var lastSecond atomic.Pointer[secondCache]

// appendTime appends t as UTC RFC 3339 with milliseconds and a Z suffix.
func appendTime(b []byte, t time.Time) []byte {
	b = appendDate(b, t)
	b = appendInt(b, t.Nanosecond()/int(time.Millisecond), 3)
	return append(b, 'Z')
}

// appendRecordTime is appendTime for the lines' @timestamp, reusing the
// formatted second of the previous line.
func appendRecordTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if c := lastSecond.Load(); c != nil && c.unix == sec {
		b = append(b, c.prefix[:]...)
		b = appendInt(b, t.Nanosecond()/int(time.Millisecond), 3)
		return append(b, 'Z')
	}
	c := &secondCache{unix: sec}
	appendDate(c.prefix[:0], t)
	lastSecond.Store(c)
	b = append(b, c.prefix[:]...)
	b = appendInt(b, t.Nanosecond()/int(time.Millisecond), 3)
	return append(b, 'Z')
}

// appendDate appends "YYYY-MM-DDTHH:MM:SS." (20 bytes for years 0-9999).
func appendDate(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	b = appendInt(b, year, 4)
	b = append(b, '-')
	b = appendInt(b, int(month), 2)
	b = append(b, '-')
	b = appendInt(b, day, 2)
	b = append(b, 'T')
	b = appendInt(b, hour, 2)
	b = append(b, ':')
	b = appendInt(b, min, 2)
	b = append(b, ':')
	b = appendInt(b, sec, 2)
	return append(b, '.')
}

func appendInt(b []byte, v, width int) []byte {
	var tmp [8]byte
	i := len(tmp)
	for v >= 10 || width > 1 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	tmp[i] = byte('0' + v)
	return append(b, tmp[i:]...)
}

// appendFloat appends f; NaN and infinities, which JSON cannot hold, become strings.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendAny encodes values of slog.KindAny. Errors and Stringers become
// their text. Anything else goes through encoding/json (allocating, but rare
// on the hot path): a scalar result is written as is, while an object or
// array is written as a JSON string, so one attribute stays one field for
// the field budget (use slog groups for structure CloudWatch should index).
func appendAny(b []byte, v any, max int) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case error:
		return appendString(b, truncate(x.Error(), max))
	case fmt.Stringer:
		return appendString(b, truncate(x.String(), max))
	case []byte:
		return appendString(b, truncate(string(x), max))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return appendString(b, truncate(fmt.Sprintf("%+v", v), max))
	}
	if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') || len(raw) > max {
		return appendString(b, truncate(string(raw), max))
	}
	return append(b, raw...)
}

func strconvAppendInt(b []byte, v int64) []byte   { return strconv.AppendInt(b, v, 10) }
func strconvAppendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }
