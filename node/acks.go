package node

import "fmt"

// Acks is a write-acknowledgement policy: how many replicas (the primary included) must hold a
// write before the client hears OK.
type Acks int

// The write-acks policies.
const (
	AcksMajority Acks = iota
	AcksOne
	AcksAll
)

// ParseAcks reads "one", "majority" or "all".
func ParseAcks(s string) (Acks, error) {
	switch s {
	case "one":
		return AcksOne, nil
	case "majority", "":
		return AcksMajority, nil
	case "all":
		return AcksAll, nil
	}
	return 0, fmt.Errorf("write-acks must be one, majority or all, not %q", s)
}

func (a Acks) String() string {
	return [...]string{"majority", "one", "all"}[a]
}

// needed is how many of n replicas must hold a write.
func (a Acks) needed(n int) int {
	switch a {
	case AcksOne:
		return 1
	case AcksAll:
		return n
	}
	return n/2 + 1
}
