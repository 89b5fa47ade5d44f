package server

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/internal/browsertest"
)

// TestBrowserShell drives the web shell the way a learner would: it follows
// every navigation link, switches the theme and checks the choice survives a
// reload.
func TestBrowserShell(t *testing.T) {
	_, base := newTestServer(t, Config{RedisLabel: "embedded Redis — data is in memory"})
	ctx := browsertest.New(t, 60*time.Second)
	browsertest.FailOnConsoleErrors(t, ctx)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("h1")),
	))
	footer, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#redis-label")))
	require.NoError(t, err)
	assert.Contains(t, footer, "embedded Redis")

	for _, link := range []struct{ text, path string }{
		{"Lessons", "/lessons"}, {"Labs", "/labs"}, {"Decide", "/decide"},
	} {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(base+"/"),
			chromedp.Click(chromedp.CSS(`nav[aria-label="Main"] a[href="`+link.path+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Main"] a[aria-current="page"][href="`+link.path+`"]`)),
		), link.text)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		assert.Equal(t, base+link.path, loc)
	}

	// The theme starts from the system setting (light in headless Chromium),
	// flips on click and survives a reload.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#theme-toggle"))))
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.documentElement).getPropertyValue("--bg").trim()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#theme-toggle"))))
	theme, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.dataset.theme`))
	require.NoError(t, err)
	assert.Equal(t, "dark", theme)
	pressed, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#theme-toggle"), "aria-pressed"))
	require.NoError(t, err)
	assert.Equal(t, "true", pressed.Value, "the toggle's state is announced, not shown by colour alone")

	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#theme-toggle"))))
	theme, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.dataset.theme || ""`))
	require.NoError(t, err)
	assert.Equal(t, "dark", theme, "the chosen theme persists across a reload")
	after, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.documentElement).getPropertyValue("--bg").trim()`))
	require.NoError(t, err)
	assert.NotEqual(t, before, after, "the dark theme changes the page colours")

	// Keyboard: the first Tab lands on the skip link, which becomes visible.
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\t")))
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className`))
	require.NoError(t, err)
	assert.Equal(t, "skip-link", focused)
	top, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.activeElement.getBoundingClientRect().top`))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, top, 0.0, "the focused skip link is on screen")
}
