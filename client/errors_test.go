package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// serverErrors is every error text of docs/commands.md with the kind it must map to.
var serverErrors = []struct {
	msg  string
	kind error
}{
	{"the session id contained in <token> does not exist", ErrNoSession},
	{"the signature contained in <token> is invalid", ErrBadSignature},
	{"the signature contained in <token> seems to be valid, but is different from the stored signature in the session", ErrWrongKey},
	{"<token> must have at least one character", ErrBadToken},
	{"<token> format is invalid", ErrBadToken},
	{"the requested <payload_name> does not exist", ErrNoPayload},
	{"<payload_name> must have at least one character", ErrNameEmpty},
	{"<payload_name> length exceeds the maximum value allowed of 200", ErrNameTooLong},
	{"<payload_data> must have at least one character", ErrDataEmpty},
	{"<payload_data> length exceeds the maximum value allowed of 8000000", ErrDataTooLong},
	{"the owner already has the maximum of 5 sessions", ErrOwnerLimit},
	{"the session already has the maximum of 10000 payloads", ErrPayloadLimit},
	{"the number of steps exceeds the maximum value allowed of 10000", ErrTooManySteps},
	{"OOM command not allowed when used memory > 'maxmemory'.", ErrOOM},
	{"TRYAGAIN the command timed out; its outcome is unknown", ErrTryAgain},
	{"TRYAGAIN", ErrTryAgain},
	{"CLUSTERDOWN no primary for partition 7", ErrTryAgain},
	{"NOAUTH Authentication required.", ErrAuth},
	{"WRONGPASS invalid username-password pair or user is disabled.", ErrAuth},
	{"<sign_key> must have at least one character", ErrInvalidArgument},
	{"<ttl> must be a valid integer that represents seconds", ErrInvalidArgument},
	{"<seconds> must be a valid integer that represents seconds", ErrInvalidArgument},
	{"<owner> must have at least one character", ErrInvalidArgument},
	{"<owner> length exceeds the maximum value allowed of 200", ErrInvalidArgument},
	{"<ip> length exceeds the maximum value allowed of 100", ErrInvalidArgument},
	{"<ua> length exceeds the maximum value allowed of 1024", ErrInvalidArgument},
	{"<maxsessions> must be a positive integer", ErrInvalidArgument},
	{"<limit> must be an integer from 1 to 100000", ErrInvalidArgument},
	{"ERR syntax error", ErrInvalidArgument},
	{"ERR MAXSESSIONS needs an OWNER", ErrInvalidArgument},
	{"ERR wrong number of arguments for 'sessiongate.start' command", ErrInvalidArgument},
	{"ERR something new", nil},
	{"TRYAGAINLATER", nil},
}

var allKinds = []error{ErrNoSession, ErrBadSignature, ErrWrongKey, ErrBadToken, ErrNoPayload,
	ErrBadPayload, ErrNameEmpty, ErrNameTooLong, ErrDataEmpty, ErrDataTooLong, ErrOwnerLimit,
	ErrTryAgain, ErrInvalidArgument, ErrAuth, ErrPayloadLimit, ErrTooManySteps, ErrOOM}

// Every server error reaches the caller as an *Error that keeps the server's text and
// matches its kind (and, for the payload limits, ErrBadPayload) and no other kind.
func TestServerErrorsMapToKinds(t *testing.T) {
	for _, tc := range serverErrors {
		t.Run(tc.msg, func(t *testing.T) {
			f := newFake(t, func([]string) string { return errReply(tc.msg) })
			c := fakeClient(t, Config{MaxRetries: -1}, f)
			_, err := c.PGet(context.Background(), fakeToken, "name")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.Msg != tc.msg || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("server text lost: Msg %q, Error() %q", e.Msg, err.Error())
			}
			if e.Cmd != "SESSIONGATE.PGET" {
				t.Fatalf("Cmd = %q", e.Cmd)
			}
			for _, k := range allKinds {
				want := k == tc.kind
				if k == ErrBadPayload {
					switch tc.kind {
					case ErrNameEmpty, ErrNameTooLong, ErrDataEmpty, ErrDataTooLong:
						want = true
					}
				}
				if errors.Is(err, k) != want {
					t.Errorf("errors.Is(err, %q) = %v, want %v", k, !want, want)
				}
			}
		})
	}
}

// A negative duration is refused before anything is sent.
func TestNegativeDurationsRefusedLocally(t *testing.T) {
	f := newFake(t, func([]string) string { return okReply })
	c := fakeClient(t, Config{}, f)
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["Start"] = c.Start(ctx, -time.Second)
	checks["Expire"] = c.Expire(ctx, fakeToken, -1)
	_, checks["Create ttl"] = c.Create(ctx, -time.Second, CreateOptions{})
	_, checks["Create idle"] = c.Create(ctx, time.Second, CreateOptions{Idle: -time.Second})
	_, checks["Create max"] = c.Create(ctx, time.Second, CreateOptions{Owner: "o", MaxSessions: -1})
	checks["SetIdle"] = c.SetIdle(ctx, fakeToken, -time.Second)
	_, checks["Activity"] = c.Activity(ctx, -time.Second)
	_, checks["Active window"] = c.Active(ctx, -time.Second, 0)
	_, checks["Active limit"] = c.Active(ctx, time.Second, -1)
	for name, err := range checks {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if n := f.count(); n != 0 {
		t.Fatalf("%d commands reached the server", n)
	}
}

func TestNewNeedsSignKey(t *testing.T) {
	if _, err := New(Config{Addrs: []string{"127.0.0.1:1"}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("New without SignKey: %v", err)
	}
}

func TestValidToken(t *testing.T) {
	good := fakeToken
	if !ValidToken(good) {
		t.Fatalf("%q refused", good)
	}
	for _, bad := range []string{
		"", "v1", good[:83], good + "0",
		"v2" + good[2:],
		"v1x" + good[3:],
		good[:19] + "x" + good[20:],
		good[:3] + "-" + good[4:],   // id outside [a-zA-Z0-9]
		good[:20] + "A" + good[21:], // signature not lowercase hex
		good[:20] + "g" + good[21:],
		strings.Repeat("a", 84),
	} {
		if ValidToken(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
