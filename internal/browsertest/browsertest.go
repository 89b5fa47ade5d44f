// Package browsertest starts headless Chromium for the browser tests, with the
// flags this project's machines need, and refuses to skip silently in CI.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary: $CHROMIUM_PATH, else /usr/bin/chromium,
// else the first chromium on PATH.
func Path() string {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New returns a browser tab context that lives at most timeout and is closed
// when the test ends. Without Chromium the test is skipped, or failed when
// CI=true.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("browsertest: chromium is not installed (CI=true requires it)")
		}
		t.Skip("browsertest: chromium is not installed; apt-get install chromium to run browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		if t.Failed() {
			keepScreenshot(t, ctx)
		}
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: start chromium: %v", err)
	}
	return ctx
}

// FailOnConsoleErrors fails the test, when it ends, if the page logged a
// script error or a Content-Security-Policy refusal. Messages containing one
// of the allowed substrings (say "status of 422" for a form the test submits
// invalid on purpose) are expected and ignored.
func FailOnConsoleErrors(t testing.TB, ctx context.Context, allowed ...string) {
	t.Helper()
	var (
		mu       sync.Mutex
		problems []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() {
				continue
			}
			text := m.String()
			if slices.ContainsFunc(allowed, func(a string) bool { return strings.Contains(text, a) }) {
				continue
			}
			mu.Lock()
			problems = append(problems, text)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) > 0 {
			t.Errorf("browsertest: the page logged console errors or CSP refusals:\n%s", strings.Join(problems, "\n"))
		}
	})
}

// keepScreenshot saves what the page showed when a test failed, as an
// artifact: in $BROWSER_SHOTS, else in crossroads-browser-failures under the
// system's temporary folder.
func keepScreenshot(t testing.TB, ctx context.Context) {
	dir := os.Getenv("BROWSER_SHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "crossroads-browser-failures")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("browsertest: keep a screenshot: %v", err)
		return
	}
	// The test may have failed because the tab's time ran out: take the
	// picture in time of its own.
	shotCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(shotCtx, chromedp.FullScreenshot(80))
	if err != nil {
		t.Logf("browsertest: keep a screenshot: %v", err)
		return
	}
	name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".png")
	if err := os.WriteFile(name, buf, 0o644); err != nil {
		t.Logf("browsertest: keep a screenshot: %v", err)
		return
	}
	t.Logf("browsertest: the page at the failure is in %s", name)
}
