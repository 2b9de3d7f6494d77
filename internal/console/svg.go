package console

import (
	"fmt"
	"hash/fnv"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

// servicePalette colours services; red is kept for errors. A service keeps
// its colour on every page because it is chosen from a hash of its name.
var servicePalette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#c9a227", "#9c755f", "#8c8c8c"}

const errorColor = "#d62728"

func serviceColor(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return servicePalette[h.Sum32()%uint32(len(servicePalette))]
}

// Waterfall geometry, in SVG user units; the page scales the drawing.
const (
	wfWidth   = 1000
	wfLabelW  = 380 // service and span name, indented by depth
	wfBarX    = 390
	wfBarW    = 520
	wfHeader  = 26
	wfRowH    = 24
	wfIndent  = 14
	wfCharW   = 6.6 // average width of a 12-unit sans-serif character
	wfFontPx  = 12
	wfMinBarW = 2
)

// waterfallSVG draws the trace: one row per span in tree order, indented by
// depth, its bar on a time axis shared by all spans, events as marks on the
// bar. Each row links to the span's details (selected is highlighted).
func waterfallSVG(t *lookup.Trace, spanHref func(spanID string) string, selected string) template.HTML {
	first, total := t.Bounds()
	rows := t.Tree().Walk()
	height := wfHeader + len(rows)*wfRowH + 4
	x := func(at time.Time) float64 {
		if total <= 0 {
			return wfBarX
		}
		return wfBarX + float64(at.Sub(first))/float64(total)*wfBarW
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="waterfall" viewBox="0 0 %d %d" width="%d" height="%d" font-family="system-ui, sans-serif" font-size="%d" aria-label="Waterfall: %d spans over %s">`+"\n",
		wfWidth, height, wfWidth, height, wfFontPx, len(rows), human(total))
	// The time axis: five ticks from the first span's start to the last span's end.
	for i := 0; i <= 4; i++ {
		tx := wfBarX + float64(i)*wfBarW/4
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="grid"/>`+"\n", tx, wfHeader-6, tx, height)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s" class="tick">%s</text>`+"\n", tx, wfHeader-10, anchor, human(total*time.Duration(i)/4))
	}
	for i, p := range rows {
		s := p.Span
		y := wfHeader + i*wfRowH
		status := "ok"
		if s.Error {
			status = "error"
			if s.Status != "" {
				status += ": " + s.Status
			}
		}
		label := fmt.Sprintf("%s %s, starts at +%s, takes %s, %s", s.Service, s.Name, human(s.Start.Sub(first)), human(s.Duration), status)
		class := "span"
		if s.Error {
			class += " failed"
		}
		if s.SpanID == selected {
			class += " selected"
		}
		fmt.Fprintf(&b, `<a href="%s" class="%s" aria-label="%s" data-span-id="%s" data-service="%s">`+"\n",
			template.HTMLEscapeString(spanHref(s.SpanID)), class, template.HTMLEscapeString(label), template.HTMLEscapeString(s.SpanID), template.HTMLEscapeString(s.Service))
		fmt.Fprintf(&b, `<title>%s</title>`+"\n", template.HTMLEscapeString(label))
		fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="%d" class="row"/>`+"\n", y, wfWidth, wfRowH)
		indent := float64(p.Depth * wfIndent)
		color := serviceColor(s.Service)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="4.5" fill="%s"/>`+"\n", 8+indent, y+wfRowH/2, color)
		room := int((wfLabelW - 18 - indent) / wfCharW)
		svc, name := fitLabel(s.Service, s.Name, room)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d"><tspan class="svc">%s</tspan> %s</text>`+"\n",
			18+indent, y+wfRowH/2+4, template.HTMLEscapeString(svc), template.HTMLEscapeString(name))
		bx := x(s.Start)
		bw := math.Max(wfMinBarW, x(s.Start.Add(s.Duration))-bx)
		fill, stroke := color, ""
		if s.Error {
			stroke = fmt.Sprintf(` stroke="%s" stroke-width="2"`, errorColor)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" rx="2" fill="%s"%s/>`+"\n", bx, y+5, bw, wfRowH-10, fill, stroke)
		for _, e := range s.Events {
			ex := math.Min(math.Max(x(e.Time), wfBarX), wfBarX+wfBarW)
			mark := "#333"
			if isErrorEvent(e) {
				mark = errorColor
			}
			fmt.Fprintf(&b, `<path d="M%.1f %dl4 5l-4 5l-4-5z" fill="%s" stroke="#fff"><title>%s</title></path>`+"\n",
				ex, y+2, mark, template.HTMLEscapeString(e.Name+" at +"+human(e.Time.Sub(first))))
		}
		text := human(s.Duration)
		if s.Error {
			text = "✗ " + text
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="dur">%s</text>`+"\n", wfWidth-4, y+wfRowH/2+4, text)
		b.WriteString("</a>\n")
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// fitLabel shortens the service and the span name to room characters in
// all, cutting the name first.
func fitLabel(service, name string, room int) (string, string) {
	if room < 8 {
		room = 8
	}
	svc := []rune(service)
	if len(svc) > room/2 {
		svc = append(svc[:room/2-1], '…')
	}
	nameRoom := room - len(svc) - 1
	n := []rune(name)
	if len(n) > nameRoom {
		n = append(n[:max(nameRoom-1, 0)], '…')
	}
	return string(svc), string(n)
}

func isErrorEvent(e lookup.Event) bool { return e.Name == "exception" || e.Name == "error_log" }

// chartMark is a point drawn over a chart: an exemplar, linked to its request.
type chartMark struct {
	At    time.Time
	Value float64
	Href  string
	Title string
}

// Chart geometry.
const (
	chW, chH   = 300, 84
	chPadTop   = 14
	chPadBelow = 14
)

// sparkline draws one series over [start, end] as a filled line from zero,
// one point per step; a missing step or a NaN is a gap. Marks are drawn as
// linked dots.
func sparkline(name string, pts []lookup.Point, start, end time.Time, step time.Duration, format func(float64) string, marks []chartMark) template.HTML {
	top := 0.0
	for _, p := range pts {
		if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
			top = math.Max(top, p.Value)
		}
	}
	for _, m := range marks {
		top = math.Max(top, m.Value)
	}
	span := end.Sub(start)
	x := func(at time.Time) float64 {
		if span <= 0 {
			return 0
		}
		return math.Min(math.Max(float64(at.Sub(start))/float64(span)*chW, 0), chW)
	}
	plotH := float64(chH - chPadTop - chPadBelow)
	y := func(v float64) float64 {
		if top <= 0 {
			return chH - chPadBelow
		}
		return chH - chPadBelow - v/top*plotH
	}
	latest := latestValue(pts, format)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" font-family="system-ui, sans-serif" font-size="11" aria-label="%s over the last %s: now %s, highest %s">`,
		chW, chH, template.HTMLEscapeString(name), longDuration(span), latest, format(top))
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" class="axis"/>`, chH-chPadBelow, chW, chH-chPadBelow)
	// Each run of numbers between gaps is its own area and line.
	var run []lookup.Point
	flush := func() {
		if len(run) == 0 {
			return
		}
		var line strings.Builder
		for i, p := range run {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&line, "%s%.1f %.1f", cmd, x(p.Time), y(p.Value))
		}
		if len(run) == 1 {
			fmt.Fprintf(&line, "h2")
		}
		fmt.Fprintf(&b, `<path d="%sV%dH%.1fz" class="area"/>`, line.String(), chH-chPadBelow, x(run[0].Time))
		fmt.Fprintf(&b, `<path d="%s" class="line"/>`, line.String())
		run = run[:0]
	}
	for i, p := range pts {
		if i > 0 && p.Time.Sub(pts[i-1].Time) > step*3/2 {
			flush()
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			flush()
			continue
		}
		run = append(run, p)
	}
	flush()
	for _, m := range marks {
		fmt.Fprintf(&b, `<a href="%s" class="exemplar"><title>%s</title><circle cx="%.1f" cy="%.1f" r="3.5"/></a>`,
			template.HTMLEscapeString(m.Href), template.HTMLEscapeString(m.Title), x(m.At), y(m.Value))
	}
	fmt.Fprintf(&b, `<text x="2" y="10" class="tick">%s</text>`, template.HTMLEscapeString(format(top)))
	fmt.Fprintf(&b, `<text x="2" y="%d" class="tick">%s ago</text><text x="%d" y="%d" text-anchor="end" class="tick">now</text>`,
		chH-2, longDuration(span), chW-2, chH-2)
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// human prints a duration the way a waterfall reads best.
var human = lookup.FormatDuration

// latestValue is the last number of the series, formatted, or "no data".
func latestValue(pts []lookup.Point, format func(float64) string) string {
	for i := len(pts) - 1; i >= 0; i-- {
		if v := pts[i].Value; !math.IsNaN(v) && !math.IsInf(v, 0) {
			return format(v)
		}
	}
	return "no data"
}

// longDuration prints a window the way a sentence says it: 15 minutes, 1 hour.
func longDuration(d time.Duration) string {
	unit, n := "minute", int(d.Round(time.Minute)/time.Minute)
	if n%60 == 0 && n > 0 {
		unit, n = "hour", n/60
	}
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
