package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/client/sgtest"
)

func reply(s string) func([]string) string { return func([]string) string { return s } }

// refusedAddr is an address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	addr, err := sgtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// An idempotent command that gets TRYAGAIN or CLUSTERDOWN moves to the next node, and
// later calls stay there.
func TestIdempotentRetriesOnNextNode(t *testing.T) {
	for _, msg := range []string{"TRYAGAIN replicas unreachable", "CLUSTERDOWN no ring yet"} {
		t.Run(msg, func(t *testing.T) {
			a := newFake(t, reply(errReply(msg)))
			b := newFake(t, reply(bulk("data")))
			c := fakeClient(t, Config{}, a, b)
			for i := 0; i < 3; i++ {
				got, err := c.PGet(context.Background(), fakeToken, "n")
				if err != nil || string(got) != "data" {
					t.Fatalf("PGet %d: %q %v", i, got, err)
				}
			}
			if a.count() != 1 || b.count() != 3 {
				t.Fatalf("node a saw %d commands, b %d; want 1 and 3", a.count(), b.count())
			}
		})
	}
}

// A connection that breaks after the request was sent is retried for an idempotent
// command, and not for START, whose first attempt may have created a session.
func TestBrokenConnection(t *testing.T) {
	a := newFake(t, reply(closeConn))
	b := newFake(t, func(args []string) string {
		if args[0] == "SESSIONGATE.START" {
			return bulk(fakeToken)
		}
		return okReply
	})
	c := fakeClient(t, Config{}, a, b)
	if err := c.PSet(context.Background(), fakeToken, "n", []byte("d")); err != nil {
		t.Fatalf("PSet: %v", err)
	}
	if a.count() != 1 || b.count() != 1 {
		t.Fatalf("PSet reached a %d, b %d times", a.count(), b.count())
	}

	c2 := fakeClient(t, Config{}, a, b)
	_, err := c2.Start(context.Background(), time.Minute)
	if !errors.Is(err, ErrTryAgain) {
		t.Fatalf("Start on a broken connection: %v, want ErrTryAgain", err)
	}
	if a.count() != 2 || b.count() != 1 {
		t.Fatalf("START was retried: a %d, b %d", a.count(), b.count())
	}
}

// START, CREATE and ROTATE are not retried on TRYAGAIN: the request reached a node, and
// the outcome is unknown.
func TestMintingCommandsNotRetriedAfterSend(t *testing.T) {
	calls := map[string]func(*Client) error{
		"START": func(c *Client) error { _, err := c.Start(context.Background(), time.Minute); return err },
		"CREATE": func(c *Client) error {
			_, err := c.Create(context.Background(), time.Minute, CreateOptions{Owner: "o"})
			return err
		},
		"ROTATE": func(c *Client) error { _, err := c.Rotate(context.Background(), fakeToken); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			a := newFake(t, reply(errReply("TRYAGAIN the command timed out; its outcome is unknown")))
			b := newFake(t, reply(bulk(fakeToken)))
			c := fakeClient(t, Config{}, a, b)
			if err := call(c); !errors.Is(err, ErrTryAgain) {
				t.Fatalf("%v, want ErrTryAgain", err)
			}
			if a.count() != 1 || b.count() != 0 {
				t.Fatalf("a saw %d, b %d", a.count(), b.count())
			}
		})
	}
}

// A node that refuses connections never received the request, so even START moves on.
func TestStartRetriedWhenDialFails(t *testing.T) {
	b := newFake(t, reply(bulk(fakeToken)))
	c, err := New(Config{Addrs: []string{refusedAddr(t), b.addr()}, SignKey: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.Start(context.Background(), time.Minute)
	if err != nil || tok != fakeToken {
		t.Fatalf("Start: %q %v", tok, err)
	}
}

// Retries are bounded by MaxRetries, and the last error is returned.
func TestRetriesAreBounded(t *testing.T) {
	a := newFake(t, reply(errReply("TRYAGAIN a")))
	b := newFake(t, reply(errReply("TRYAGAIN b")))
	c := fakeClient(t, Config{MaxRetries: 4, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, a, b)
	err := c.End(context.Background(), fakeToken)
	if !errors.Is(err, ErrTryAgain) {
		t.Fatalf("%v", err)
	}
	if n := a.count() + b.count(); n != 5 {
		t.Fatalf("%d attempts, want 5", n)
	}
	if a.count() != 3 || b.count() != 2 {
		t.Fatalf("attempts did not alternate: a %d, b %d", a.count(), b.count())
	}
}

func TestNegativeMaxRetriesDisablesRetry(t *testing.T) {
	a := newFake(t, reply(errReply("TRYAGAIN a")))
	b := newFake(t, reply(okReply))
	c := fakeClient(t, Config{MaxRetries: -1}, a, b)
	if err := c.End(context.Background(), fakeToken); !errors.Is(err, ErrTryAgain) {
		t.Fatalf("%v", err)
	}
	if b.count() != 0 {
		t.Fatal("retried")
	}
}

// Errors about the session or the arguments are answers, not outages: never retried.
func TestAnswersAreNotRetried(t *testing.T) {
	a := newFake(t, reply(errReply("the session id contained in <token> does not exist")))
	b := newFake(t, reply(okReply))
	c := fakeClient(t, Config{}, a, b)
	if err := c.End(context.Background(), fakeToken); !errors.Is(err, ErrNoSession) {
		t.Fatalf("%v", err)
	}
	if b.count() != 0 {
		t.Fatal("retried")
	}
}

// A context that ends during the backoff ends the call with the context's error.
func TestBackoffRespectsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := newFake(t, func([]string) string { cancel(); return errReply("TRYAGAIN later") })
	c := fakeClient(t, Config{MinBackoff: time.Hour, MaxBackoff: time.Hour}, a)
	err := c.End(ctx, fakeToken)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want context.Canceled", err)
	}
	if errors.Is(err, ErrTryAgain) {
		t.Fatalf("%v also matches ErrTryAgain", err)
	}
}

// With every node unreachable the error is ErrTryAgain and carries the transport error.
func TestAllNodesDown(t *testing.T) {
	c, err := New(Config{Addrs: []string{refusedAddr(t), refusedAddr(t)}, SignKey: []byte("k"),
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Info(context.Background(), fakeToken)
	var e *Error
	if !errors.Is(err, ErrTryAgain) || !errors.As(err, &e) || e.Err == nil {
		t.Fatalf("%v", err)
	}
}
