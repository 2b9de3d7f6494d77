package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser tests drive a real headless Chromium (Debian's chromium package,
// which scripts/install-chromium.sh installs) through chromedp. Selectors are
// CSS selectors. Every batch of browser steps runs under browserStepTimeout,
// so a missing element fails the test naming it instead of hanging.

const (
	browserStepTimeout  = 30 * time.Second
	browserStartTimeout = 60 * time.Second
	// maxScreenshotSide is the largest texture Chromium renders; a wider or
	// taller "screenshot" means the page size went wrong.
	maxScreenshotSide = 16384
)

// browser is a headless Chromium with one tab, ended at the test's cleanup.
type browser struct {
	ctx     context.Context // the tab: pass it to the helpers below and to chromedp.Do/Run
	errs    func() []string // console errors, failed assertions, uncaught exceptions and browser log errors so far
	profile string          // the user data directory; every process of this browser has it on its command line
}

// findChromium returns the path of a Chromium or Chrome binary, or ends the
// test: a skip on a developer machine, a failure in CI (make test installs it).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed in CI: make test installs it with scripts/install-chromium.sh")
	}
	t.Skip("chromium not installed: run scripts/install-chromium.sh (sudo apt-get install -y chromium)")
	return ""
}

// newBrowser starts a headless Chromium whose window is width x height CSS
// pixels, with a fresh profile, and opens a tab on about:blank. At the end of
// the test the browser is closed and every process it started is gone.
func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	exe := findChromium(t)
	// Registered before the cleanup below, so removed after the browser ended.
	profile := filepath.Join(t.TempDir(), "chromium-profile")
	out := &lineSink{} // Chromium's stdout and stderr, shown when the test fails
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(out),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to start as root with its sandbox on.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)

	var mu sync.Mutex
	var errs []string
	record := func(msg string) {
		mu.Lock()
		errs = append(errs, msg)
		mu.Unlock()
	}
	// WithListener sees the tab's events from its start, in order, and before
	// the reply to the command that follows them: an error a page raises
	// while it loads is recorded when Navigate returns.
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			record(exceptionText(ev.ExceptionDetails))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				record(fmt.Sprintf("console.%s: %s%s", ev.Type, consoleArgs(ev.Args), stackPlace(ev.StackTrace)))
			}
		case *log.EventEntryAdded:
			if e := ev.Entry; e.Level == log.EntryLevelError && !implicitFavicon(e) {
				where := ""
				if e.URL != "" {
					where = " (" + e.URL + ")"
				}
				record(fmt.Sprintf("browser log (%s): %s%s", e.Source, e.Text, where))
			}
		}
	}))

	t.Cleanup(func() {
		// Close the browser gracefully, then make sure: cancelling the
		// allocator kills the process and waits for it.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelTab()
		cancelAlloc()
		// Child processes (zygote, renderers, utilities) can outlive a killed
		// browser process; none may outlive the test.
		if n := killBrowserProcesses(profile); n > 0 {
			t.Logf("chromium: killed %d process(es) left after the browser exited", n)
		}
		if t.Failed() {
			t.Logf("chromium output (tail, D-Bus complaints left out):\n%s", chromiumOutput(out))
		}
	})

	// The first Do starts the browser and ties its life to ctx, so it gets no
	// deadline of its own; a timer ends a start that hangs.
	var hung atomic.Bool
	timer := time.AfterFunc(browserStartTimeout, func() { hung.Store(true); cancelTab() })
	err := chromedp.Do(ctx)
	timer.Stop()
	if hung.Load() {
		err = fmt.Errorf("no answer within %v (%w)", browserStartTimeout, err)
	}
	if err != nil {
		// The cleanup shows Chromium's output.
		t.Fatalf("start %s (headless, %dx%d): %v", exe, width, height, err)
	}
	// --window-size alone does not fix the viewport: headless Chromium keeps
	// its window at least 500 pixels wide and takes window decorations off the
	// height (1024x768 gives a 1024x625 viewport). Emulating the device
	// metrics makes window.innerWidth x innerHeight exactly width x height,
	// for this tab and every page it loads.
	viewport := []chromedp.EmulateViewportOption{}
	if height > width {
		viewport = append(viewport, chromedp.EmulatePortrait)
	}
	browse(t, ctx, fmt.Sprintf("set the viewport to %dx%d", width, height),
		chromedp.EmulateViewport(int64(width), int64(height), viewport...))
	return &browser{
		ctx: ctx,
		errs: func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(errs)
		},
		profile: profile,
	}
}

// chromiumOutput is the end of what Chromium printed, without the lines
// about D-Bus: in a container it has none and prints a few dozen of them
// at start-up, which would push anything useful out of the tail.
func chromiumOutput(out *lineSink) string {
	lines := strings.Split(out.tail(1<<20), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, ":ERROR:dbus/") })
	s := strings.Join(lines, "\n")
	if len(s) > 3000 {
		s = s[len(s)-3000:]
	}
	return s
}

// implicitFavicon reports a failed load of /favicon.ico, which Chromium
// requests by itself for a page that declares no icon: not the page's error.
func implicitFavicon(e *log.Entry) bool {
	u, err := url.Parse(e.URL)
	return e.Source == log.EntrySourceNetwork && err == nil && u.Path == "/favicon.ico"
}

// browse runs steps in the tab within browserStepTimeout and fails the test
// with what the steps were for, e.g. `open the console`.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	browseValue(t, ctx, what, chromedp.Steps(steps...))
}

// browseValue runs one action that returns a value, as browse does.
func browseValue[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	v, err := runWithin(ctx, browserStepTimeout, what, action)
	if err != nil {
		t.Fatalf("%s (page %s)", err, currentURL(ctx))
	}
	return v
}

// runWithin runs action with a deadline. A timeout's error says what was
// being waited for and for how long.
func runWithin[T any](ctx context.Context, within time.Duration, what string, action chromedp.Action[T]) (T, error) {
	sctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	v, err := chromedp.Run(sctx, action)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, context.DeadlineExceeded):
		return v, fmt.Errorf("%s: not done within %v: %w", what, within, err)
	default:
		return v, fmt.Errorf("%s: %w", what, err)
	}
}

// currentURL is the tab's location for error messages, or why it is unknown.
func currentURL(ctx context.Context) string {
	u, err := runWithin(ctx, 2*time.Second, "read the location", chromedp.Location())
	if err != nil {
		return "unknown: " + err.Error()
	}
	return u
}

// waitVisible waits until the element selector (CSS) is in the page and
// visible, and fails the test naming the selector if it is not within
// browserStepTimeout.
func waitVisible(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	browse(t, ctx, fmt.Sprintf("wait until %q is visible", selector), chromedp.WaitVisible(chromedp.CSS(selector)))
}

// pageText waits until the element selector (CSS) is visible and returns its
// visible text (innerText).
func pageText(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	return browseValue(t, ctx, fmt.Sprintf("read the text of %q", selector),
		func(ctx context.Context, tg *chromedp.Target) (string, error) {
			if _, err := chromedp.WaitVisible(chromedp.CSS(selector))(ctx, tg); err != nil {
				return "", err
			}
			return chromedp.Text(chromedp.CSS(selector))(ctx, tg)
		})
}

// screenshot writes a full-page PNG of the tab to path (creating its
// directory) and checks the image: a PNG, no narrower than the window, no
// larger than Chromium can render, and not a single colour (something was
// drawn).
func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	buf := browseValue(t, ctx, "take a full-page screenshot for "+path, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	window := browseValue(t, ctx, "read the window width", chromedp.Evaluate[float64](`window.innerWidth * window.devicePixelRatio`))
	b := img.Bounds()
	if b.Dx() < int(window) || b.Dx() > maxScreenshotSide || b.Dy() < 1 || b.Dy() > maxScreenshotSide {
		t.Fatalf("screenshot %s is %dx%d pixels; want a width from the window's %v to %d and a height from 1 to %d",
			path, b.Dx(), b.Dy(), window, maxScreenshotSide, maxScreenshotSide)
	}
	if singleColour(img) {
		t.Fatalf("screenshot %s (%dx%d) is a single colour: nothing was rendered", path, b.Dx(), b.Dy())
	}
	t.Logf("screenshot %s: %dx%d, %d bytes", path, b.Dx(), b.Dy(), len(buf))
}

func singleColour(img image.Image) bool {
	b := img.Bounds()
	r0, g0, b0, a0 := img.At(b.Min.X, b.Min.Y).RGBA()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, a := img.At(x, y).RGBA(); r != r0 || g != g0 || bl != b0 || a != a0 {
				return false
			}
		}
	}
	return true
}

// overflow is what horizontalOverflow measures.
type overflow struct {
	ScrollWidth int      `json:"scrollWidth"` // document.documentElement.scrollWidth
	InnerWidth  int      `json:"innerWidth"`  // window.innerWidth
	Culprits    []string `json:"culprits"`    // elements reaching past the window's right edge
}

const overflowJS = `(() => {
	const w = window.innerWidth, culprits = [];
	for (const el of document.body ? document.body.querySelectorAll('*') : []) {
		const r = el.getBoundingClientRect();
		if (r.right > w + 0.5 && culprits.length < 5) {
			culprits.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
				(typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
				' (right edge ' + Math.round(r.right) + 'px)');
		}
	}
	return {scrollWidth: document.documentElement.scrollWidth, innerWidth: w, culprits};
})()`

// horizontalOverflow measures whether the page is wider than the window.
func horizontalOverflow(ctx context.Context) (overflow, error) {
	return runWithin(ctx, browserStepTimeout, "measure the page width", chromedp.Evaluate[overflow](overflowJS))
}

// noHorizontalOverflow fails the test when the page scrolls sideways:
// document.documentElement.scrollWidth > window.innerWidth.
func noHorizontalOverflow(t *testing.T, ctx context.Context) {
	t.Helper()
	o, err := horizontalOverflow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.ScrollWidth > o.InnerWidth {
		t.Errorf("page %s overflows horizontally: document.documentElement.scrollWidth %d > window.innerWidth %d; elements past the edge: %s",
			currentURL(ctx), o.ScrollWidth, o.InnerWidth, strings.Join(o.Culprits, ", "))
	}
}

// exceptionText is an uncaught exception as the DevTools console shows it,
// e.g. `exception: Uncaught Error: boom (http://…/page:3)`.
func exceptionText(d *runtime.ExceptionDetails) string {
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		desc, _, _ := strings.Cut(d.Exception.Description, "\n    at ")
		text += " " + desc
	}
	src, line := d.URL, d.LineNumber
	if src == "" && d.StackTrace != nil && len(d.StackTrace.CallFrames) > 0 {
		src, line = d.StackTrace.CallFrames[0].URL, d.StackTrace.CallFrames[0].LineNumber
	}
	return "exception: " + text + place(src, line)
}

// consoleArgs renders console.error's arguments as the DevTools console
// does: a format in the first argument (%s, %d, %i, %f, %o, %O, %c) takes the
// arguments after it, and the rest are joined with spaces.
func consoleArgs(args []*runtime.RemoteObject) string {
	if len(args) == 0 {
		return ""
	}
	var parts []string
	rest := args[1:]
	first := consoleValue(args[0])
	if args[0].Type == runtime.RemoteObjectTypeString && strings.Contains(first, "%") {
		var b strings.Builder
		for i := 0; i < len(first); i++ {
			c := first[i]
			if c != '%' || i+1 == len(first) {
				b.WriteByte(c)
				continue
			}
			switch verb := first[i+1]; {
			case verb == '%':
				b.WriteByte('%')
				i++
			case strings.IndexByte("sdifoOc", verb) >= 0 && len(rest) > 0:
				if verb != 'c' { // %c is a CSS style: it prints nothing
					b.WriteString(consoleValue(rest[0]))
				}
				rest = rest[1:]
				i++
			default:
				b.WriteByte(c)
			}
		}
		first = b.String()
	}
	parts = append(parts, first)
	for _, a := range rest {
		parts = append(parts, consoleValue(a))
	}
	return strings.Join(parts, " ")
}

// consoleValue renders one argument: a string as it is, another value by its
// description or its JSON.
func consoleValue(a *runtime.RemoteObject) string {
	var s string
	switch {
	case a.Type == runtime.RemoteObjectTypeString && json.Unmarshal(a.Value, &s) == nil:
		return s
	case a.UnserializableValue != "":
		return string(a.UnserializableValue)
	case a.Description != "":
		return a.Description
	case len(a.Value) > 0:
		return string(a.Value)
	default:
		return string(a.Type)
	}
}

func stackPlace(st *runtime.StackTrace) string {
	if st == nil || len(st.CallFrames) == 0 {
		return ""
	}
	return place(st.CallFrames[0].URL, st.CallFrames[0].LineNumber)
}

// place is ` (src:line)` for a script or page address src, with the
// protocol's 0-based line made 1-based.
func place(src string, line int64) string {
	if src == "" {
		return ""
	}
	return fmt.Sprintf(" (%s:%d)", src, line+1)
}

// browserProcesses lists the processes with --user-data-dir=profile on their
// command line: every process of the browser that uses that profile.
func browserProcesses(profile string) []int {
	want := []byte("--user-data-dir=" + profile)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if slices.ContainsFunc(bytes.Split(cmdline, []byte{0}), func(arg []byte) bool { return bytes.Equal(arg, want) }) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killBrowserProcesses kills the processes of the browser with this profile
// until none shows up for a few looks in a row (a child can fork while its
// parent dies), and returns how many it killed.
func killBrowserProcesses(profile string) int {
	killed := 0
	deadline := time.Now().Add(5 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		pids := browserProcesses(profile)
		if len(pids) == 0 {
			quiet++
			continue
		}
		quiet = 0
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	return killed
}

// harnessSite is the self-test's web site: a form, a link, a page that is
// too wide and a page with errors. No page declares an icon, so Chromium
// asks for /favicon.ico and gets a 404, which must not count as an error.
func harnessSite() http.Handler {
	const head = `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width, initial-scale=1"><title>%s</title></head><body>`
	page := func(w http.ResponseWriter, title, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, head, title)
		fmt.Fprint(w, body, `</body></html>`)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Home", `<h1>Browser harness</h1>
<form action="/greet" method="post">
  <label for="name">Your name</label> <input id="name" name="name" autocomplete="off">
  <button type="submit">Greet me</button>
</form>`)
	})
	mux.HandleFunc("POST /greet", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Greeting", `<p id="greeting">Hello, `+html.EscapeString(r.PostFormValue("name"))+`!</p>
<p><a id="next" href="/next">Continue</a></p>`)
	})
	mux.HandleFunc("GET /next", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Next", `<h1 id="title">The next page</h1><p>`+strings.Repeat("Some text to render. ", 40)+`</p>`)
	})
	mux.HandleFunc("GET /wide", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Wide", `<h1>Too wide</h1><div id="banner" class="strip wide" style="width:3000px;height:20px;background:#c33"></div>`)
	})
	mux.HandleFunc("GET /throws", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Throws", `<h1>Broken</h1>
<script>console.error("logged: %s (%d%%)", "something bad", 42, {code: 7});</script>
<script>throw new Error("boom from the page");</script>
<img src="/missing.png" alt="">`)
	})
	return mux
}

// TestBrowserHarness checks the browser helpers against a real Chromium:
// reading text, filling and submitting a form, following a link, a
// screenshot, the overflow check, the error accessor, a clear failure for a
// missing element, and that no browser process outlives its test.
func TestBrowserHarness(t *testing.T) {
	srv := httptest.NewServer(harnessSite())
	t.Cleanup(srv.Close)

	b := newBrowser(t, 1024, 768)
	browse(t, b.ctx, "open the home page", chromedp.Navigate(srv.URL+"/"))
	if got := pageText(t, b.ctx, "h1"); got != "Browser harness" {
		t.Errorf("heading = %q, want %q", got, "Browser harness")
	}

	browse(t, b.ctx, "fill in and submit the form",
		chromedp.SendKeys(chromedp.CSS("#name"), "Ada Lovelace"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	if got := pageText(t, b.ctx, "#greeting"); got != "Hello, Ada Lovelace!" {
		t.Errorf("greeting = %q, want %q", got, "Hello, Ada Lovelace!")
	}

	browse(t, b.ctx, "follow the link", chromedp.Click(chromedp.CSS("#next")))
	waitVisible(t, b.ctx, "#title")
	if got := pageText(t, b.ctx, "#title"); got != "The next page" {
		t.Errorf("title = %q, want %q", got, "The next page")
	}
	if u := browseValue(t, b.ctx, "read the location", chromedp.Location()); u != srv.URL+"/next" {
		t.Errorf("location = %q, want %q", u, srv.URL+"/next")
	}
	noHorizontalOverflow(t, b.ctx)
	if vp := browseValue(t, b.ctx, "read the viewport", chromedp.Evaluate[[]int](`[window.innerWidth, window.innerHeight]`)); !slices.Equal(vp, []int{1024, 768}) {
		t.Errorf("viewport = %v, want [1024 768]", vp)
	}

	shot := filepath.Join(t.TempDir(), "shots", "next.png")
	screenshot(t, b.ctx, shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(f)
	f.Close()
	if err != nil || cfg.Width != 1024 {
		t.Errorf("%s: width %d (%v), want 1024, the window's", shot, cfg.Width, err)
	}

	if errs := b.errs(); len(errs) != 0 {
		t.Errorf("errors reported on pages without any: %q", errs)
	}

	browse(t, b.ctx, "open the wide page", chromedp.Navigate(srv.URL+"/wide"))
	o, err := horizontalOverflow(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.InnerWidth != 1024 || o.ScrollWidth < 3000 || len(o.Culprits) == 0 || !strings.HasPrefix(o.Culprits[0], "div#banner.strip.wide ") {
		t.Errorf("wide page: %+v; want innerWidth 1024, scrollWidth >= 3000 and div#banner.strip.wide named", o)
	}

	_, err = runWithin(b.ctx, time.Second, `wait until "#missing" is visible`, chromedp.WaitVisible(chromedp.CSS("#missing")))
	if err == nil || !strings.Contains(err.Error(), `"#missing"`) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a missing element: error %v; want a deadline error naming the selector", err)
	}

	browse(t, b.ctx, "open the page that throws", chromedp.Navigate(srv.URL+"/throws"))
	want := []string{
		"console.error: logged: something bad (42%) Object (" + srv.URL + "/throws:2)",
		"exception: Uncaught Error: boom from the page (" + srv.URL + "/throws:",
		"browser log (network): Failed to load resource: the server responded with a status of 404 (Not Found) (" + srv.URL + "/missing.png)",
	}
	poll(t, 10*time.Second, "the page's errors are reported", func() (bool, string) {
		errs := b.errs()
		joined := strings.Join(errs, "\n")
		for _, w := range want {
			if !strings.Contains(joined, w) {
				return false, fmt.Sprintf("no %q in %q", w, errs)
			}
		}
		return true, ""
	})

	var profile string
	t.Run("the browser ends with its test", func(t *testing.T) {
		inner := newBrowser(t, 400, 300)
		profile = inner.profile
		browse(t, inner.ctx, "open the home page", chromedp.Navigate(srv.URL+"/"))
		// Narrower than headless Chromium's smallest window (500 pixels).
		if w := browseValue(t, inner.ctx, "read the viewport width", chromedp.Evaluate[int](`window.innerWidth`)); w != 400 {
			t.Errorf("window.innerWidth = %d, want 400", w)
		}
		if n := len(browserProcesses(profile)); n == 0 {
			t.Fatal("no process has the profile on its command line: the leftover check would see nothing")
		}
	})
	if pids := browserProcesses(profile); len(pids) != 0 {
		t.Errorf("browser processes %v outlived their test", pids)
	}
}
