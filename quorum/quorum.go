// Package quorum decides when a replicated write is acknowledged: the write-acks policy, and
// the wait of one partition given what its backups have answered so far. It is pure: no
// clocks, sockets or locks, so every decision is table-tested.
package quorum

import "fmt"

// Acks is a write-acknowledgement policy: how many replicas (the primary included) must hold a
// write before the client hears OK.
type Acks int

// The write-acks policies. The zero value is majority, the default.
const (
	AcksMajority Acks = iota
	AcksOne
	AcksAll
)

// ParseAcks reads "one", "majority" or "all"; "" is majority.
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

// String is the policy's name as ParseAcks reads it.
func (a Acks) String() string {
	return [...]string{"majority", "one", "all"}[a]
}

// Needed is how many of n replicas (the primary included) must hold a write.
func (a Acks) Needed(n int) int {
	switch a {
	case AcksOne:
		return 1
	case AcksAll:
		return n
	}
	return n/2 + 1
}

// Decision is where one partition's wait stands.
type Decision int8

// The decisions of a partition's wait.
const (
	Waiting Decision = iota // neither decided yet: answers or lease expiries still to come
	OK                      // enough backups hold the write, and none holding a lease lacks it
	Failed                  // too many backups failed for the policy ever to be met
)

// Wait is one partition's replication as it stands. The primary's own copy is not counted:
// Need is the acknowledgements needed beyond it.
type Wait struct {
	Backups int // the partition's backups, a carrier included
	Need    int // acknowledgements needed from them
	Acked   int // backups that hold the write (a carrier always does)
	Failed  int // backups whose copy failed
	Leased  int // backups still holding a read lease that have not acknowledged: they may answer reads without the write
}

// Decide decides the wait. Failure comes first: once too few backups are left to meet Need,
// waiting longer cannot help. A backup that failed but still holds a lease counts in both
// Failed and Leased: the write is failed if the policy cannot be met, and otherwise waits
// until that lease has run out, since the backup could serve reads that miss the write.
func (w Wait) Decide() Decision {
	switch {
	case w.Backups-w.Failed < w.Need:
		return Failed
	case w.Acked >= w.Need && w.Leased == 0:
		return OK
	}
	return Waiting
}
