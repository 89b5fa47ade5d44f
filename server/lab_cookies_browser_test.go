package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
	"github.com/crossroads-learn/crossroads/labs"
)

// TestBrowserLabWithCookiesBlockedSaysSo opens the lab in a browser set to
// block cookies: after one redirect it shows a page that says the lab needs a
// cookie, instead of redirecting until the browser gives up.
func TestBrowserLabWithCookiesBlockedSaysSo(t *testing.T) {
	e := newLabServer(t, labs.ManagerOptions{})
	ctx := cookielessBrowser(t, 60*time.Second)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.base+"/labs?scenario=baseline"),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	))
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1")))
	require.NoError(t, err)
	assert.Equal(t, "The lab needs a cookie", h1)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, e.base+"/labs?cookie=1&scenario=baseline", loc, "one redirect, then the page")
	lede, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main .lede")))
	require.NoError(t, err)
	assert.Contains(t, lede, "did not send it back")

	// Trying again with cookies still blocked lands on the same page.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("main a.btn")),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	))
	h1, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1")))
	require.NoError(t, err)
	assert.Equal(t, "The lab needs a cookie", h1)
	assert.Zero(t, e.mgr.Len(), "no sandbox was made")
}

// cookielessBrowser starts headless Chromium with a profile whose settings
// block every cookie, as a learner's browser set that way does. It follows
// browsertest.New (skipped without Chromium, failed in CI).
func cookielessBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := browsertest.Path()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (CI=true requires it)")
		}
		t.Skip("chromium is not installed; apt-get install chromium to run browser tests")
	}
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "Default"), 0o755))
	prefs := `{"profile":{"default_content_setting_values":{"cookies":2}}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Default", "Preferences"), []byte(prefs), 0o644))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dir), chromedp.WindowSize(1200, 900))
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	return ctx
}
