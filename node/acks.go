package node

import "github.com/sessiongate/sessiongate/quorum"

// Acks is a write-acknowledgement policy: how many replicas (the primary included) must hold a
// write before the client hears OK (package quorum).
type Acks = quorum.Acks

// The write-acks policies.
const (
	AcksMajority = quorum.AcksMajority
	AcksOne      = quorum.AcksOne
	AcksAll      = quorum.AcksAll
)

// ParseAcks reads "one", "majority" or "all".
func ParseAcks(s string) (Acks, error) { return quorum.ParseAcks(s) }
