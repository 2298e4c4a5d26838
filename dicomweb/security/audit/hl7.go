package audit

import (
	"context"
	"fmt"
)

// Event IDs of the HL7 front door (PS3.16 CID 400).
var (
	EventOrderRecord   = dcm("110109", "Order Record")
	EventPatientRecord = dcm("110110", "Patient Record")
)

// HL7Message describes an HL7 v2 message answered.
type HL7Message struct {
	Code, Event string // MSH-9
	ControlID   string // MSH-10
	Ack         string // AA, AE or AR
	Text        string // why, for AE and AR (no message content)
	Duplicate   bool   // answered from the journal, not applied again
}

// HL7Received records an HL7 message received over MLLP, durable before
// the acknowledgment goes out (as a STOW record before its response):
// ADT as 110110 Patient Record, orders and results as 110109 Order
// Record, action Update; the sender (application^facility and address)
// is the user. Success for AA, minor failure for AE and AR.
func (t *Trail) HL7Received(ctx context.Context, sender User, m HL7Message) {
	id := EventOrderRecord
	if m.Code == "ADT" {
		id = EventPatientRecord
	}
	o := Success
	if m.Ack != "AA" {
		o = MinorFailure
	}
	desc := fmt.Sprintf("HL7 %s^%s %s -> %s", m.Code, m.Event, m.ControlID, m.Ack)
	if m.Duplicate {
		desc += " (duplicate, not applied again)"
	}
	if m.Text != "" {
		desc += ": " + m.Text
	}
	r := t.node.record(id, Update, o, desc)
	r.ActiveParticipants = []ActiveParticipant{sender.participant(&RoleSource), t.node.application(&RoleDestination, false)}
	t.write(ctx, r, true)
}
