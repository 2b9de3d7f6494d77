package telemetry

import (
	"sync/atomic"
	"time"
)

// Times outside the years 0–9999 cannot be written as RFC 3339; they are
// written as the nearest time that can.
var (
	firstWritable = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	lastWritable  = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
)

// formatTime is UTC RFC 3339 with milliseconds: 2026-01-31T09:30:45.123Z.
// Lines written in the same second share its formatted date (lastSecond):
// formatting a date is a noticeable part of a line's cost.
func formatTime(t time.Time) string {
	t = t.UTC()
	if t.Before(firstWritable) {
		t = firstWritable
	} else if t.After(lastWritable) {
		t = lastWritable
	}
	sec := t.Unix()
	c := lastSecond.Load()
	if c == nil || c.unix != sec {
		c = &formattedSecond{unix: sec}
		t.Truncate(time.Second).AppendFormat(c.prefix[:0], "2006-01-02T15:04:05.")
		lastSecond.Store(c)
	}
	var b [24]byte
	n := copy(b[:], c.prefix[:])
	ms := t.Nanosecond() / int(time.Millisecond)
	b[n], b[n+1], b[n+2], b[n+3] = byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z'
	return string(b[:n+4])
}

// formattedSecond is "YYYY-MM-DDTHH:MM:SS." of one second.
type formattedSecond struct {
	unix   int64
	prefix [20]byte
}

var lastSecond atomic.Pointer[formattedSecond]

// truncate cuts s to at most max bytes on a rune boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(TruncatedMarker)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + TruncatedMarker
}
