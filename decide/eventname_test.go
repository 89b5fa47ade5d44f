package decide

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckEvent(t *testing.T) {
	cases := []struct {
		name       string
		kind       EventKind
		suggestion string
	}{
		{"SendWelcomeEmail", EventCommand, "WelcomeEmailSent"},
		{"UpdateInventory", EventCommand, "InventoryUpdated"},
		{"PlaceOrder", EventCommand, "OrderPlaced"},
		{"ChargeCard", EventCommand, "CardCharged"},
		{"send.welcome.email", EventCommand, "welcome.email.sent"},
		{"update_inventory", EventCommand, "inventory_updated"},
		{"ship-order", EventCommand, "order-shipped"},
		{"UserSignedUp", EventFact, ""},
		{"InventoryUpdated", EventFact, ""},
		{"OrderPlaced", EventFact, ""},
		{"user.signedup", EventFact, ""},
		{"order.placed", EventFact, ""},
		{"payment.captured", EventFact, ""},
		{"EmailSent", EventFact, ""},
		{"InvoicePaid", EventFact, ""},
		{"UpdateRequested", EventFact, ""}, // a verb-looking head but a past tail is a fact
		{"OrderConfirmation", EventUnclear, ""},
		{"Send", EventUnclear, ""},
		{"", EventUnclear, ""},
		{"...", EventUnclear, ""},
		{"HTTPRequestFailed", EventFact, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kind, s := CheckEvent(tc.name)
			assert.Equal(t, tc.kind, kind)
			assert.Equal(t, tc.suggestion, s)
		})
	}
}
