package lessons

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeFigures knows one recorded run: slow-email, run 0 or "sync".
func fakeFigures(scenario, run, name string) (Figure, error) {
	if scenario != "slow-email" || (run != "0" && run != "sync") {
		return Figure{}, fmt.Errorf("scenario %q has no run %q", scenario, run)
	}
	values := map[string]string{"latency_ms.p50": "812 ms", "lost": "0"}
	v, ok := values[name]
	if !ok {
		return Figure{}, fmt.Errorf("no figure %q", name)
	}
	return Figure{Text: v, Run: "Sync, email at <800 ms>", Href: "/labs/results/slow-email#run-0",
		Command: "crossroads lab run --mode sync --email-latency 800ms", Note: "recorded 2026-11-29 on Redis 7.0.15"}, nil
}

func chapterWithFigures(t *testing.T, extra string) string {
	t.Helper()
	src := readFixture(t, "lessons/01-waiting.md")
	return strings.Replace(src, "## Blocked callers\n", "## Blocked callers\n\n"+extra+"\n", 1)
}

func TestAFigureIsQuotedFromTheRecordedRunWithItsCommand(t *testing.T) {
	src := chapterWithFigures(t, `The median was {{figure "slow-email" "sync" "latency_ms.p50"}} and "{{figure "slow-email" "0" "lost"}}" were lost.

`+"```callout\nkind: note\ntitle: Measured\nbody: |\n  Even here: {{figure \"slow-email\" \"sync\" \"latency_ms.p50\"}}.\n```\n")
	c, err := Load(fixtureWith(t, "lessons/01-waiting.md", src), Options{Figures: fakeFigures})
	require.NoError(t, err)
	ch, ok := c.Chapter("waiting")
	require.True(t, ok)
	body := string(ch.Before)

	assert.Contains(t, body, `The median was <span class="figure"><button type="button" class="figure-value" popovertarget="fig-2" aria-describedby="fig-2-what">812 ms</button>`)
	assert.Contains(t, body, `<span class="figure-how" id="fig-2" popover>`)
	assert.Contains(t, body, `<code>crossroads lab run --mode sync --email-latency 800ms</code>`)
	assert.Contains(t, body, `<a href="/labs/results/slow-email#run-0">Sync, email at &lt;800 ms&gt;</a>`, "escaped")
	assert.Contains(t, body, `&ldquo;<span class="figure"><button type="button" class="figure-value" popovertarget="fig-3" aria-describedby="fig-3-what">0</button>`,
		"each reference has its own popover, and the typographer still curls the quotes around it")
	assert.Contains(t, body, `Even here: <span class="figure"><button type="button" class="figure-value" popovertarget="fig-1"`, "figures inside blocks are resolved too")
	assert.NotContains(t, body, "{{")

	assert.Contains(t, string(ch.Print), `popovertarget="waiting--fig-1"`, "print ids are prefixed")
	hits := c.Search("812", 5)
	require.NotEmpty(t, hits, "the quoted number is searchable")
	assert.Contains(t, hits[0].Snippet, "812 ms")
}

func TestAFigureThatWasNotRecordedStopsTheLoad(t *testing.T) {
	for _, tc := range []struct{ ref, want string }{
		{`{{figure "slow-email" "async" "latency_ms.p50"}}`, `01-waiting.md:12: figure "slow-email async latency_ms.p50": scenario "slow-email" has no run "async"`},
		{`{{figure "slow-email" "sync" "latency_ms.p42"}}`, `figure "slow-email sync latency_ms.p42": no figure "latency_ms.p42"`},
		{`{{figure "slow-email" sync "lost"}}`, `01-waiting.md:12: "{{figure" is not a figure reference`},
		{`{{ figure "slow-email"}}`, `is not a figure reference`},
	} {
		_, err := Load(fixtureWith(t, "lessons/01-waiting.md", chapterWithFigures(t, tc.ref)), Options{Figures: fakeFigures})
		require.Error(t, err, tc.ref)
		assert.Contains(t, err.Error(), tc.want, tc.ref)
	}
	_, err := Load(fixtureWith(t, "lessons/01-waiting.md", chapterWithFigures(t, `{{figure "slow-email" "0" "lost"}}`)), Options{})
	assert.ErrorContains(t, err, "no recorded figures were loaded")

	_, err = Load(fixtureWith(t, "lessons/01-waiting.md", chapterWithFigures(t, "Write `{{figure \"a\" \"0\" \"b\"}}` in code.")), Options{})
	assert.NoError(t, err, "code spans may show the syntax")
}

func TestRenderTextQuotesFiguresInShortTexts(t *testing.T) {
	h, err := RenderText(`Sync took **{{figure "slow-email" "sync" "latency_ms.p50"}}**.`, fakeFigures, "sc-")
	require.NoError(t, err)
	assert.Contains(t, string(h), `<strong><span class="figure"><button type="button" class="figure-value" popovertarget="sc-fig-1"`)

	_, err = RenderText(`{{figure "slow-email" "9" "lost"}} and {{figure "x" "0" "lost"}}`, fakeFigures, "")
	assert.ErrorContains(t, err, `figure "slow-email 9 lost"`)
	assert.ErrorContains(t, err, `figure "x 0 lost"`, "every bad reference is named")
}
