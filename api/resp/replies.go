package resp

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

func errReply(msg string) reply { return reply{kind: rErr, str: msg} }

// errOOM is Redis's noeviction refusal, word for word.
const errOOM = "OOM command not allowed when used memory > 'maxmemory'."

// bulk is a bulk string reply; num an integer reply (the fields of map-shaped answers).
func bulk(s string) reply { return reply{kind: rBulk, bulk: []byte(s)} }
func num(n int64) reply   { return reply{kind: rInt, n: n} }

// errorReply is the one place where backend errors become protocol replies.
func errorReply(err error) reply {
	var se *sessions.Error
	var re interface{ RESPError() string }
	switch {
	case errors.As(err, &se):
		switch se.Code {
		case sessions.CodeSignature:
			return errReply(errSignature)
		case sessions.CodeNoSession:
			return errReply("the session id contained in <token> does not exist")
		case sessions.CodeWrongKey:
			return errReply("the signature contained in <token> seems to be valid, but is different from the stored signature in the session")
		case sessions.CodeNameEmpty:
			return errReply("<payload_name> must have at least one character")
		case sessions.CodeNameTooLong:
			return errReply("<payload_name> length exceeds the maximum value allowed of 200")
		case sessions.CodeDataEmpty:
			return errReply("<payload_data> must have at least one character")
		case sessions.CodeDataTooLong:
			return errReply("<payload_data> length exceeds the maximum value allowed of 8000000")
		case sessions.CodeNoPayload:
			return errReply("the requested <payload_name> does not exist")
		case sessions.CodeOwnerLimit:
			return errReply("the owner already has the maximum of " + strconv.Itoa(se.Max) + " sessions")
		case sessions.CodePayloadLimit:
			return errReply("the session already has the maximum of " + strconv.Itoa(se.Max) + " payloads")
		case sessions.CodeTooManySteps:
			return errReply(errSteps(se.Max))
		case sessions.CodeOOM:
			return errReply(errOOM)
		}
		return errReply("ERR invalid command")
	case errors.As(err, &re):
		return errReply(re.RESPError())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errReply("TRYAGAIN the command timed out; its outcome is unknown")
	}
	return errReply("ERR " + err.Error())
}

// infoReply renders a session's facts as pairs (a map under RESP3), led by its token when
// sg is given.
func infoReply(token []byte, in *sessions.Info) reply {
	now := time.Now().UnixMilli()
	pairs := make([]reply, 0, 24)
	add := func(k string, v reply) { pairs = append(pairs, reply{kind: rBulk, bulk: []byte(k)}, v) }
	if token != nil {
		add("token", reply{kind: rBulk, bulk: token})
	}
	add("owner", reply{kind: rBulk, bulk: nonNil(in.Owner)})
	add("created", reply{kind: rInt, n: in.Created})
	add("last_seen", reply{kind: rInt, n: in.LastSeen / 1000})
	add("ttl", reply{kind: rInt, n: (in.TTL + 999) / 1000})
	add("idle_timeout", reply{kind: rInt, n: int64(in.IdleTimeout)})
	add("idle", reply{kind: rInt, n: max(0, now-in.LastSeen) / 1000})
	add("reads", reply{kind: rInt, n: int64(in.Reads)})
	add("writes", reply{kind: rInt, n: int64(in.Writes)})
	add("ip", reply{kind: rBulk, bulk: nonNil(in.IP)})
	add("ua", reply{kind: rBulk, bulk: nonNil(in.UA)})
	add("payloads", reply{kind: rInt, n: int64(in.Payloads)})
	return reply{kind: rArray, array: pairs, isMap: true}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func listReply(sg *sessions.Signer, infos []sessions.Info) reply {
	out := make([]reply, len(infos))
	for i := range infos {
		out[i] = infoReply(sg.AppendToken(nil, infos[i].ID), &infos[i])
	}
	return reply{kind: rArray, array: out}
}

// write sends a reply in the connection's protocol version. A closed reply sends nothing:
// the connection is being dropped.
func (c *client) write(r reply) {
	if r.closed {
		return
	}
	switch r.kind {
	case rOK:
		c.w.WriteString("OK")
	case rStatus:
		c.w.WriteString(r.str)
	case rBulk:
		c.w.WriteBulk(r.bulk)
	case rInt:
		c.w.WriteInt64(r.n)
	case rNull:
		if c.proto == 3 {
			c.w.WriteRaw([]byte("_\r\n"))
		} else {
			c.w.WriteNull()
		}
	case rErr:
		c.s.stats.errors.Add(1)
		c.w.WriteError(r.str)
	case rArray:
		if r.isMap && c.proto == 3 {
			c.w.WriteRaw(append(append([]byte{'%'}, strconv.Itoa(len(r.array)/2)...), '\r', '\n'))
		} else {
			c.w.WriteArray(len(r.array))
		}
		for _, e := range r.array {
			c.write(e)
		}
	}
}
