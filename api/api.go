// Package api is what the front ends (RESP, REST, metrics, the status page) need of a node:
// a Backend that runs commands, and the read-only views of the node they report. Front ends
// depend on this package, never on the node itself, so either side can change alone.
package api

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// Backend runs checked commands wherever they must run.
type Backend interface {
	// Do runs one command and returns its result once the write-acks policy is met.
	Do(ctx context.Context, cmd *sessions.Command) (sessions.Result, error)
	// DoBatch runs a pipeline's commands and leaves their outcomes in out, in order (out is the
	// caller's, as long as cmds, so that a steady stream of pipelines allocates nothing).
	// Commands on one slot run in the order given; commands on different slots may run
	// concurrently. DoBatch may set a command's At (the clock reading it runs at).
	DoBatch(ctx context.Context, cmds []*sessions.Command, out []Outcome)
}

// Node is a Backend that also reports on itself.
type Node interface {
	Backend
	// Counters is a snapshot of the node's counters.
	Counters() Counters
	// StoreStats is a snapshot of the local store's sizes.
	StoreStats() sessions.Stats
	// ClusterView is what the node knows of its cluster, or nil when it runs alone.
	ClusterView() *ClusterView
	// Locate asks every member for its own copy of one session.
	Locate(ctx context.Context, id sessions.ID) []Copy
	// Persistence reports the node's data directory, or nil when it keeps memory only.
	Persistence() *Persistence
}

// Persistence is what a node's data directory has done since the node started.
type Persistence struct {
	Fsync         string        // always, everysec or no
	Refused       string        // why writes are refused now; "" while the log is written
	LogRecords    uint64        // records appended to the log
	LogBytes      uint64        // bytes written to it
	LogWrites     uint64        // write calls that carried them
	Fsyncs        uint64        // fsyncs of the log
	FsyncTime     time.Duration // time spent in them
	Snapshots     uint64        // snapshots written
	LastSnapshot  time.Time     // when the last one was done; zero if none yet
	SnapshotBytes int64         // its size
	SnapshotTook  time.Duration // how long it took
	Loaded        int           // sessions loaded from the directory at start
	LoadTook      time.Duration // how long loading took
}

// ErrTryAgain matches every retryable cluster error (a TryAgain).
var ErrTryAgain = errors.New("try again")

// TryAgain is a retryable cluster condition: the client may send the command again.
type TryAgain struct{ Msg string }

// TryAgainf is a TryAgain with its text formatted.
func TryAgainf(format string, args ...any) error {
	return &TryAgain{"TRYAGAIN " + fmt.Sprintf(format, args...)}
}

func (e *TryAgain) Error() string { return e.Msg }

// RESPError is the reply's text, as it is: it starts with its code (TRYAGAIN).
func (e *TryAgain) RESPError() string { return e.Msg }

// Is matches ErrTryAgain.
func (e *TryAgain) Is(target error) bool { return target == ErrTryAgain }

// ErrClosed is returned for commands that reach a node after its shutdown.
var ErrClosed = errors.New("node: shut down")

// Outcome is one command's answer within a batch.
type Outcome struct {
	Result sessions.Result
	Err    error
}

// Section is one block of INFO output.
type Section struct {
	Name   string
	Fields [][2]string
}

// Stats are the counters a node keeps as it runs; Counters is a snapshot of them.
type Stats struct {
	Commands, Forwarded, CopyReads, Batches, Expired, Replicated, ReplFailed, Applied,
	Carried, Grouped, InlineWrites, InlineWaits atomic.Uint64
}

// Snapshot reads every counter.
func (s *Stats) Snapshot() Counters {
	return Counters{Commands: s.Commands.Load(), Forwarded: s.Forwarded.Load(), CopyReads: s.CopyReads.Load(),
		Batches: s.Batches.Load(), Expired: s.Expired.Load(), Replicated: s.Replicated.Load(),
		ReplFailed: s.ReplFailed.Load(), Applied: s.Applied.Load(), Carried: s.Carried.Load(),
		Grouped: s.Grouped.Load(), InlineWrites: s.InlineWrites.Load(), InlineWaits: s.InlineWaits.Load()}
}

// Counters are a node's running totals, for INFO and metrics.
type Counters struct {
	Commands     uint64 // commands executed here as primary
	Forwarded    uint64 // commands sent to another node's primary
	CopyReads    uint64 // reads answered from this node's copy as a backup
	Batches      uint64 // messages that carried several forwarded commands at once
	Expired      uint64 // sessions freed by the expiry sweep
	Replicated   uint64 // ops sent to backups
	ReplFailed   uint64 // op copies that a backup did not acknowledge
	Applied      uint64 // ops received from other nodes and applied
	Carried      uint64 // ops applied from the answers to writes this node forwarded
	Grouped      uint64 // writes replicated in a group with others of their pipeline
	InlineWrites uint64 // forwarded writes run on the replication connection's reader
	InlineWaits  uint64 // inline calls whose answers waited for acknowledgements
}
