package client

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Errors a caller matches with errors.Is. Every error a Client returns for a server reply is
// an *Error that keeps the server's own text and matches one of these.
var (
	// ErrNoSession: the session never existed, has ended or has expired.
	ErrNoSession = errors.New("session does not exist")
	// ErrBadSignature: the token's signature does not match the client's sign key.
	ErrBadSignature = errors.New("token signature is invalid")
	// ErrWrongKey: the token is correctly signed, but with another key than the session's.
	ErrWrongKey = errors.New("token was signed with another key than the session's")
	// ErrBadToken: the token is empty or not of the form v1.<id>.<sig>.
	ErrBadToken = errors.New("token format is invalid")
	// ErrNoPayload: the payload name is not set on the session.
	ErrNoPayload = errors.New("payload does not exist")
	// ErrBadPayload matches all four payload limit errors below.
	ErrBadPayload = errors.New("payload name or data is out of bounds")
	// ErrNameEmpty: a payload name must have at least one byte.
	ErrNameEmpty = errors.New("payload name is empty")
	// ErrNameTooLong: a payload name may have at most 200 bytes.
	ErrNameTooLong = errors.New("payload name is longer than 200 bytes")
	// ErrDataEmpty: payload data must have at least one byte.
	ErrDataEmpty = errors.New("payload data is empty")
	// ErrDataTooLong: payload data may have at most 8,000,000 bytes.
	ErrDataTooLong = errors.New("payload data is longer than 8000000 bytes")
	// ErrOwnerLimit: CREATE with MaxSessions (and no Evict) found the owner at the limit.
	ErrOwnerLimit = errors.New("owner has the maximum number of sessions")
	// ErrTryAgain: the cluster could not serve the command now (TRYAGAIN, CLUSTERDOWN) or
	// no node was reachable. For Start, Create and Rotate the outcome may be unknown.
	ErrTryAgain = errors.New("try again")
	// ErrInvalidArgument: an argument the server (or the client, before sending) refused:
	// a negative duration, an empty sign key, an owner out of bounds, a syntax error.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrAuth: the server wants a password (NOAUTH) or refused the one given (WRONGPASS).
	ErrAuth = errors.New("authentication failed")
	// ErrPayloadLimit: the session holds the most payload names a session may (10,000).
	ErrPayloadLimit = errors.New("session has the maximum number of payloads")
	// ErrTooManySteps: a PUpdate with more steps than one may have (10,000).
	ErrTooManySteps = errors.New("too many steps in one update")
	// ErrOOM: the node is past its --maxmemory and refuses writes that would grow it; reads,
	// deletes and ends still work.
	ErrOOM = errors.New("node is out of memory for new data")
)

// Error is a failed command. Msg is the server's reply text when there was one.
type Error struct {
	Cmd  string // the command, e.g. "SESSIONGATE.PGET"
	Msg  string // the server's error text, or a description of the local failure
	Kind error  // one of the Err* values, or nil for an error this package does not classify
	Err  error  // the underlying transport error, if any
}

func (e *Error) Error() string {
	s := "sessiongate: " + e.Cmd + ": " + e.Msg
	if e.Err != nil && !strings.Contains(e.Msg, e.Err.Error()) {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is see the kind, its parent (ErrBadPayload for the payload limits)
// and the transport error.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 3)
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	switch e.Kind {
	case ErrNameEmpty, ErrNameTooLong, ErrDataEmpty, ErrDataTooLong:
		out = append(out, ErrBadPayload)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// kindOf maps a server error text to its kind. It is the one place that knows the server's
// strings (docs/commands.md); anything unknown stays unclassified but keeps its text.
func kindOf(msg string) error {
	switch msg {
	case "the session id contained in <token> does not exist":
		return ErrNoSession
	case "the signature contained in <token> is invalid":
		return ErrBadSignature
	case "the signature contained in <token> seems to be valid, but is different from the stored signature in the session":
		return ErrWrongKey
	case "<token> must have at least one character", "<token> format is invalid":
		return ErrBadToken
	case "the requested <payload_name> does not exist":
		return ErrNoPayload
	case "<payload_name> must have at least one character":
		return ErrNameEmpty
	case "<payload_name> length exceeds the maximum value allowed of 200":
		return ErrNameTooLong
	case "<payload_data> must have at least one character":
		return ErrDataEmpty
	case "<payload_data> length exceeds the maximum value allowed of 8000000":
		return ErrDataTooLong
	case "<sign_key> must have at least one character",
		"<ttl> must be a valid integer that represents seconds",
		"<seconds> must be a valid integer that represents seconds",
		"<owner> must have at least one character",
		"<owner> length exceeds the maximum value allowed of 200",
		"ERR syntax error":
		return ErrInvalidArgument
	}
	switch {
	case strings.HasPrefix(msg, "the owner already has the maximum of "):
		return ErrOwnerLimit
	case strings.HasPrefix(msg, "the session already has the maximum of "):
		return ErrPayloadLimit
	case strings.HasPrefix(msg, "the number of steps exceeds the maximum value allowed of "):
		return ErrTooManySteps
	case hasWord(msg, "OOM"):
		return ErrOOM
	case hasWord(msg, "TRYAGAIN"), hasWord(msg, "CLUSTERDOWN"):
		return ErrTryAgain
	case hasWord(msg, "NOAUTH"), hasWord(msg, "WRONGPASS"):
		return ErrAuth
	case strings.HasPrefix(msg, "<") && strings.Contains(msg, "> "),
		strings.HasPrefix(msg, "ERR wrong number of arguments"),
		strings.HasPrefix(msg, "ERR MAXSESSIONS"):
		// The extended commands' other argument checks: <ip>, <ua>, <maxsessions>, <limit>.
		return ErrInvalidArgument
	}
	return nil
}

// hasWord reports whether msg is word or starts with word and a space.
func hasWord(msg, word string) bool {
	return msg == word || strings.HasPrefix(msg, word+" ")
}

// wrap turns what go-redis returned into this package's error for cmd.
func wrap(ctx context.Context, cmd string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		// The caller gave up; whatever the transport said is a consequence.
		cause := context.Cause(ctx)
		msg := "not completed"
		if !errors.Is(err, cause) {
			msg += " (" + err.Error() + ")"
		}
		return &Error{Cmd: cmd, Msg: msg, Err: cause}
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		e := &Error{Cmd: cmd, Msg: msg, Kind: kindOf(msg)}
		if e.Kind == ErrAuth {
			e.Err = err // keep go-redis's "failed to authenticate" context
		}
		return e
	}
	if errors.Is(err, redis.ErrClosed) {
		return &Error{Cmd: cmd, Msg: "client is closed", Err: err}
	}
	// Anything else is the transport: the node is unreachable or the connection broke.
	return &Error{Cmd: cmd, Msg: "node unreachable", Kind: ErrTryAgain, Err: err}
}

// notSent reports whether err proves the request never left this process, so that even a
// command that is unsafe to repeat may go to another node.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, redis.ErrPoolTimeout)
}
