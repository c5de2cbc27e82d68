// Package wal is an append-only log of records on disk: each record checksummed, the log cut
// into numbered segment files. Each write carries every record appended since the last, with
// one fsync: group commit. The log's goroutine writes, or under SyncAlways a waiter that finds
// nobody writing. Appending never touches the disk: it gives the record's position, and under
// SyncAlways the appender waits until that record is on disk.
//
// The log knows nothing of what its records hold. Reading it back (Read) cuts a torn tail
// (a crash in the middle of a write) and refuses damage anywhere else.
package wal

import (
	"errors"
	"fmt"
	"strings"
)

// Sync is when appended records are made durable: Redis's appendfsync.
type Sync int

const (
	// SyncAlways counts a record durable once it is fsynced; Wait waits for that.
	SyncAlways Sync = iota
	// SyncEverySec counts a record durable at once, writes it to the operating system within
	// about a millisecond and fsyncs once a second: a killed process loses the records of
	// about the last millisecond, a crash of the machine about the last second.
	SyncEverySec
	// SyncNo is SyncEverySec with fsync left to the operating system.
	SyncNo
)

// ParseSync reads always, everysec or no.
func ParseSync(s string) (Sync, error) {
	switch strings.ToLower(s) {
	case "always":
		return SyncAlways, nil
	case "everysec":
		return SyncEverySec, nil
	case "no":
		return SyncNo, nil
	}
	return 0, fmt.Errorf("fsync policy %q: want always, everysec or no", s)
}

func (s Sync) String() string {
	switch s {
	case SyncAlways:
		return "always"
	case SyncEverySec:
		return "everysec"
	}
	return "no"
}

// ErrFailed wraps the error that stopped the log from writing: until a retry succeeds,
// Append refuses records and Wait reports it.
var ErrFailed = errors.New("the log cannot be written")

// ErrClosed is returned for records appended after Close.
var ErrClosed = errors.New("the log is closed")

// ErrFull is returned when more than Config.MaxPending bytes wait for the disk.
var ErrFull = errors.New("the log is behind: too many bytes wait for the disk")

// DamageError is a record that fails its checksum, or cannot be read, before the end of the
// log: not a torn write, so Read will not cut the log there.
type DamageError struct {
	File   string
	Offset int64
	Reason string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%s: damaged record at offset %d: %s", e.File, e.Offset, e.Reason)
}
