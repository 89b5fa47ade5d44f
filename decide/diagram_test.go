package decide

import (
	"github.com/crossroads-learn/crossroads/content"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The checkout journey: checkout in the first column, inventory and email
// in the second; the stock call a solid (sync) arrow, the receipt a dashed
// one labelled with its event; the description says both in words.
func TestDiagramsLayOutEachJourney(t *testing.T) {
	txt, err := Load(content.FS)
	require.NoError(t, err)
	a := Seed()
	ds := txt.Diagrams(a)
	require.Len(t, ds, 1)
	d := ds[0]
	assert.Equal(t, "Checkout", d.Title)
	require.Len(t, d.Nodes, 3)
	assert.Equal(t, "checkout", d.Nodes[0].Name)
	assert.Less(t, d.Nodes[0].X, d.Nodes[1].X, "called services sit a column further")
	assert.Equal(t, d.Nodes[1].X, d.Nodes[2].X)
	require.Len(t, d.Edges, 2)
	assert.Equal(t, Sync, d.Edges[0].Pattern)
	assert.Equal(t, Async, d.Edges[1].Pattern)
	assert.Equal(t, "order.placed", d.Edges[1].Label, "an event's arrow says the event")
	assert.Contains(t, d.Desc, "checkout calls inventory and waits (Reserve inventory)")
	assert.Contains(t, d.Desc, "checkout publishes order.placed for email")
	for _, n := range d.Nodes {
		assert.LessOrEqual(t, n.X+150, d.Width)
		assert.LessOrEqual(t, n.Y+40, d.Height)
	}

	a.Journeys = append(a.Journeys, Journey{Name: "Empty"})
	assert.Len(t, txt.Diagrams(a), 1, "a journey without interactions is not drawn")
}
