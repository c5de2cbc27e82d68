package workpool

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func goroutineID() int {
	var buf [64]byte
	b := bytes.TrimPrefix(buf[:runtime.Stack(buf[:], false)], []byte("goroutine "))
	n, _ := strconv.Atoi(string(b[:bytes.IndexByte(b, ' ')]))
	return n
}

// Work handed over one piece at a time runs on the same worker.
func TestReusesWorkers(t *testing.T) {
	var p Pool
	defer p.Close()
	ids := map[int]bool{}
	for i := 0; i < 100; i++ {
		done := make(chan int)
		p.Go(func() { done <- goroutineID() })
		ids[<-done] = true
		time.Sleep(time.Millisecond) // let the worker get back to waiting
	}
	if len(ids) > 5 {
		t.Fatalf("100 sequential functions ran on %d goroutines", len(ids))
	}
}

// Concurrent work gets as many workers as it needs: nothing waits for a busy worker.
func TestRunsConcurrently(t *testing.T) {
	var p Pool
	defer p.Close()
	var wg sync.WaitGroup
	release := make(chan struct{})
	var running atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		p.Go(func() {
			defer wg.Done()
			running.Add(1)
			<-release
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 20 blocked functions running", running.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
}

// Idle workers exit after Idle, and Close waits for busy ones.
func TestIdleWorkersExitAndCloseWaits(t *testing.T) {
	p := Pool{Idle: 20 * time.Millisecond}
	before := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		p.Go(func() {})
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before: idle workers did not exit", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var finished atomic.Bool
	p.Go(func() { time.Sleep(50 * time.Millisecond); finished.Store(true) })
	p.Close()
	if !finished.Load() {
		t.Fatal("Close returned before a busy worker finished")
	}
}

// Close twice is fine, and work given after Close still runs.
func TestCloseTwiceAndGoAfterClose(t *testing.T) {
	var p Pool
	p.Close()
	ran := make(chan struct{})
	p.Go(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("work given after Close never ran")
	}
	p.Close()
}

// Work handed to Go while Close runs is neither lost nor a race on the wait group (the race
// detector flagged wg.Add during wg.Wait when a node shut down while copies were queued).
func TestGoWhileClosing(t *testing.T) {
	for range 50 {
		var p Pool
		var ran sync.WaitGroup
		ran.Add(20)
		start := make(chan struct{})
		for range 20 {
			go func() {
				<-start
				p.Go(func() { ran.Done() })
			}()
		}
		close(start)
		p.Close()
		done := make(chan struct{})
		go func() { ran.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("work given to Go around Close never ran")
		}
	}
}
