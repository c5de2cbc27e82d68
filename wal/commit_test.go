package wal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// heldSyncFile holds every Sync until the test lets it finish, and tells the test when one
// starts.
type heldSyncFile struct {
	*os.File
	started chan struct{}
	release chan struct{}
}

func (f heldSyncFile) Sync() error {
	f.started <- struct{}{}
	<-f.release
	return f.File.Sync()
}

// A waiter whose record is in the write under way returns when that write is durable, even
// when another write follows at once and is slow: it does not queue for a turn to write,
// where it would wait through the next write too.
func TestWaiterCoveredByTheWriteUnderWayDoesNotWaitForTheNext(t *testing.T) {
	started, release := make(chan struct{}, 4), make(chan struct{})
	l := openLog(t, Config{Create: func(path string) (File, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		return heldSyncFile{f, started, release}, err
	}})
	defer close(release) // lets every later Sync through, Close's included
	ctx := context.Background()
	first := appendAll(t, l, "first")
	go l.Wait(ctx, first) // the leader: it writes "first" and waits in Sync
	<-started

	second := appendAll(t, l, "second") // not in the write under way
	secondDone := make(chan error, 1)
	go func() { secondDone <- l.Wait(ctx, second) }()
	time.Sleep(20 * time.Millisecond) // lets it reach the writer's lock first, where it used to queue

	firstDone := make(chan error, 1)
	go func() { firstDone <- l.Wait(ctx, first) }()
	time.Sleep(20 * time.Millisecond)

	release <- struct{}{} // the first write is durable
	<-started             // and the write of "second" has begun: it stays in Sync
	select {
	case err := <-firstDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter whose record was durable waited for the next write")
	}
	select {
	case err := <-secondDone:
		t.Fatalf("a record was reported durable before its write finished: %v", err)
	default:
	}
	release <- struct{}{}
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkGroupCommit is the log under fsync always as a node's connections use it: each
// of W writers appends a pipeline of 16 records and waits for them, over and over. One op
// is one record; fsyncs/op shows how many records an fsync covers.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			l, err := Open(Config{Dir: b.TempDir(), Logger: quiet()}, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			rec := make([]byte, 150)
			const depth = 16
			pipelines := (b.N + depth - 1) / depth
			work := make(chan struct{}, pipelines)
			for range pipelines {
				work <- struct{}{}
			}
			close(work)
			b.SetBytes(int64(len(rec)))
			b.ResetTimer()
			var wg sync.WaitGroup
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						var pos Pos
						for range depth {
							pos, _ = l.Append(rec)
						}
						if err := l.Wait(context.Background(), pos); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(l.Stats().Fsyncs)/float64(pipelines*depth), "fsyncs/op")
		})
	}
}

// Stats count the records appended, the bytes and writes that carried them, and the fsyncs.
func TestStats(t *testing.T) {
	l := openLog(t, Config{})
	pos := appendAll(t, l, "one", "two", "three")
	if err := l.Wait(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if want := uint64(3*headerSize + len("onetwothree")); st.Records != 3 || st.Bytes != want {
		t.Fatalf("records %d, bytes %d; want 3 and %d", st.Records, st.Bytes, want)
	}
	if st.Writes < 1 || st.Writes > 3 || st.Fsyncs != st.Writes || st.FsyncTime <= 0 {
		t.Fatalf("writes %d, fsyncs %d in %v: want an fsync per write under always", st.Writes, st.Fsyncs, st.FsyncTime)
	}
}

// A wait for a position the closed log never made durable ends with ErrClosed rather than
// waiting for a writer that has stopped.
func TestWaitOnAClosedLog(t *testing.T) {
	l := openLog(t, Config{})
	pos := appendAll(t, l, "kept")
	if err := l.Wait(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	l.Close()
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background(), pos+1) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("wait on a closed log: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a wait on a closed log did not return")
	}
}
