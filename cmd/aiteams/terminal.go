package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// palette holds the escape codes used for output; all empty when colours are off.
type palette struct {
	red, yellow, dim, bold, reset string
}

var noColors = palette{}

// colorsFor turns colours on only for a terminal, and never when NO_COLOR is
// set (https://no-color.org) or TERM is dumb.
func colorsFor(w io.Writer) palette {
	if !isTerminal(w) || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return noColors
	}
	return palette{red: "\x1b[31m", yellow: "\x1b[33m", dim: "\x1b[2m", bold: "\x1b[1m", reset: "\x1b[0m"}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// spinner shows that a wait is going on, on a terminal only, from its first
// second on; elsewhere it stays quiet.
type spinner struct {
	w     io.Writer
	what  string
	start time.Time
	shown bool
	n     int
}

func newSpinner(w io.Writer, what string) *spinner {
	if !isTerminal(w) {
		return &spinner{}
	}
	return &spinner{w: w, what: what, start: time.Now()}
}

func (s *spinner) tick() {
	if s.w == nil || time.Since(s.start) < time.Second {
		return
	}
	frames := `|/-\`
	s.n++
	fmt.Fprintf(s.w, "\r%c %s… %ds", frames[s.n%len(frames)], s.what, int(time.Since(s.start).Seconds()))
	s.shown = true
}

func (s *spinner) stop() {
	if s.shown {
		fmt.Fprint(s.w, "\r\x1b[K")
	}
}
