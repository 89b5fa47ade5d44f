package decide

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossroads-learn/crossroads/content"
)

// shipped is the questionnaire and record text the binary embeds, which
// every test renders with.
var shipped = func() *Text {
	t, err := Load(content.FS)
	if err != nil {
		panic("the shipped decide content does not load: " + err.Error())
	}
	return t
}()

// Content that is missing or broken is an error naming the file, never a
// panic: the text is passed in, and cmd reports it.
func TestLoadNamesMissingOrBrokenContent(t *testing.T) {
	_, err := Load(fstest.MapFS{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decide/questionnaire.yaml")

	q, err := content.FS.ReadFile("decide/questionnaire.yaml")
	require.NoError(t, err)
	_, err = Load(fstest.MapFS{"decide/questionnaire.yaml": {Data: q}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decide/record.yaml")

	_, err = Load(fstest.MapFS{
		"decide/questionnaire.yaml": {Data: []byte("steps: [{id: only}]\n")},
		"decide/record.yaml":        {Data: []byte("labels: {}\n")},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want 5 steps")

	_, err = Load(fstest.MapFS{
		"decide/questionnaire.yaml": {Data: []byte("steps: [\n")},
		"decide/record.yaml":        {Data: []byte("labels: {}\n")},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "parse decide/questionnaire.yaml")
}
