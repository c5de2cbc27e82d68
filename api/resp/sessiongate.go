package resp

import (
	"errors"
	"strconv"
	"strings"

	"github.com/sessiongate/sessiongate/sessions"
)

// Argument errors, checked before any state is touched. The six original commands' texts
// have no "ERR " prefix, exactly as the module sends them.
const (
	errKeyEmpty     = "<sign_key> must have at least one character"
	errTokenEmpty   = "<token> must have at least one character"
	errTokenFormat  = "<token> format is invalid"
	errTTL          = "<ttl> must be a valid integer that represents seconds"
	errSignature    = "the signature contained in <token> is invalid"
	errSeconds      = "<seconds> must be a valid integer that represents seconds"
	errOwnerEmpty   = "<owner> must have at least one character"
	errOwnerTooLong = "<owner> length exceeds the maximum value allowed of 200"
	errSyntax       = "ERR syntax error"
)

// errSteps is the refusal of a PUPDATE with more than max steps.
func errSteps(max int) string {
	return "the number of steps exceeds the maximum value allowed of " + strconv.Itoa(max)
}

// parseSeconds reads an integer the way Redis's string2ll does (no '+', no spaces, no leading
// zeros) and requires 0..max.
func parseSeconds(b []byte, max int64) (int64, bool) {
	if len(b) == 0 || len(b) > 20 || b[0] == '+' || (b[0] == '0' && len(b) > 1) || (len(b) > 1 && b[0] == '-' && b[1] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, false
	}
	return n, true
}

// tokenCmd performs the checks every token command shares, in the module's order: sign key,
// token, token format, (ttl, for EXPIRE, via between), signature.
func tokenCmd(sg *sessions.Signer, key, token []byte, between func() string) (sessions.Command, string) {
	if len(key) == 0 {
		return sessions.Command{}, errKeyEmpty
	}
	if len(token) == 0 {
		return sessions.Command{}, errTokenEmpty
	}
	id, sig, err := sessions.ParseToken(token)
	if err != nil {
		return sessions.Command{}, errTokenFormat
	}
	if between != nil {
		if e := between(); e != "" {
			return sessions.Command{}, e
		}
	}
	sg.Reset(key)
	mac, ok := sessions.ParseMAC(&sig)
	if !ok {
		return sessions.Command{}, errSignature
	}
	// The store that runs the command compares the MAC with the one kept in the session's
	// record, and computes the HMAC only when that cannot settle it (a miss, another key);
	// a node that forwards the command verifies it before it leaves (Command.Settle).
	return sessions.Command{Tenant: sg.Tenant(), ID: id, MAC: mac, Check: sg.Verifier()}, ""
}

func cmdStart(c *client, sg *sessions.Signer, args [][]byte) reply {
	if len(args[1]) == 0 {
		return errReply(errKeyEmpty)
	}
	ttl, ok := parseSeconds(args[2], sessions.MaxTTL)
	if !ok {
		return errReply(errTTL)
	}
	return c.start(sg, args[1], sessions.Command{Kind: sessions.KindStart, TTL: ttl})
}

// start draws a fresh id (in the owner's slot when there is one) and creates the session.
func (c *client) start(sg *sessions.Signer, key []byte, cmd sessions.Command) reply {
	sg.Reset(key)
	cmd.Tenant = sg.Tenant()
	slot := -1
	if len(cmd.Owner) > 0 {
		slot = sessions.OwnerSlot(cmd.Tenant, cmd.Owner)
	}
	for attempt := 0; ; attempt++ {
		id, err := c.newID(slot)
		if err != nil {
			return errReply("ERR cannot draw a session id: " + err.Error())
		}
		cmd.ID, cmd.NewMAC = id, sg.MAC(id)
		_, err = c.do(&cmd)
		if errors.Is(err, sessions.ErrBadCommand) && attempt < 2 {
			continue // an id collision: draw again
		}
		if err != nil {
			return errorReply(err)
		}
		return reply{kind: rBulk, bulk: sessions.AppendTokenMAC(nil, id, &cmd.NewMAC)}
	}
}

func (c *client) newID(slot int) (sessions.ID, error) {
	return sessions.NewID(c.rnd, slot)
}

// do hands a command that runs alone to the backend. The backend bounds its own waits (a
// node applies its command timeout only when a command leaves the process), so the local path
// allocates no timer here.
func (c *client) do(cmd *sessions.Command) (sessions.Result, error) {
	return c.s.backend.Do(c.s.ctx, cmd)
}

// prepFn checks a command's arguments into a command for the backend; a non-empty string is
// the error to reply instead.
type prepFn func(sg *sessions.Signer, args [][]byte) (sessions.Command, string)

// render turns a prepared command's outcome into its reply.
func render(kind sessions.Kind, res sessions.Result, err error) reply {
	if err != nil {
		return errorReply(err)
	}
	switch kind {
	case sessions.KindPGet:
		return reply{kind: rBulk, bulk: res.Data}
	case sessions.KindTTL:
		return reply{kind: rInt, n: res.Int}
	case sessions.KindInfo:
		return infoReply(nil, res.Info)
	case sessions.KindPGetAll:
		out := make([]reply, 0, 2*len(res.Fields))
		for _, f := range res.Fields {
			out = append(out, reply{kind: rBulk, bulk: f.Name}, reply{kind: rBulk, bulk: f.Data})
		}
		return reply{kind: rArray, array: out, isMap: true}
	}
	return reply{kind: rOK}
}

func prepExpire(sg *sessions.Signer, args [][]byte) (sessions.Command, string) {
	var ttl int64
	cmd, e := tokenCmd(sg, args[1], args[2], func() string {
		var ok bool
		if ttl, ok = parseSeconds(args[3], sessions.MaxTTL); !ok {
			return errTTL
		}
		return ""
	})
	cmd.Kind, cmd.TTL = sessions.KindExpire, ttl
	return cmd, e
}

// prepToken prepares the commands that take key, token and maybe a payload name and data.
func prepToken(kind sessions.Kind) prepFn {
	return func(sg *sessions.Signer, args [][]byte) (sessions.Command, string) {
		cmd, e := tokenCmd(sg, args[1], args[2], nil)
		cmd.Kind = kind
		switch kind {
		case sessions.KindPSet:
			cmd.Name, cmd.Data = args[3], args[4]
		case sessions.KindPGet, sessions.KindPDel:
			cmd.Name = args[3]
		}
		return cmd, e
	}
}

func cmdRotate(c *client, sg *sessions.Signer, args [][]byte) reply {
	cmd, e := tokenCmd(sg, args[1], args[2], nil)
	if e != "" {
		return errReply(e)
	}
	cmd.Kind = sessions.KindRotate
	for attempt := 0; ; attempt++ {
		nid, err := c.newID(cmd.ID.Slot())
		if err != nil {
			return errReply("ERR cannot draw a session id: " + err.Error())
		}
		cmd.NewID, cmd.NewMAC = nid, sg.MAC(nid)
		_, err = c.do(&cmd)
		if errors.Is(err, sessions.ErrBadCommand) && attempt < 2 {
			continue
		}
		if err != nil {
			return errorReply(err)
		}
		return reply{kind: rBulk, bulk: sessions.AppendTokenMAC(nil, nid, &cmd.NewMAC)}
	}
}

func prepIdle(sg *sessions.Signer, args [][]byte) (sessions.Command, string) {
	var secs int64
	cmd, e := tokenCmd(sg, args[1], args[2], func() string {
		var ok bool
		if secs, ok = parseSeconds(args[3], sessions.MaxTTL); !ok {
			return errSeconds
		}
		return ""
	})
	cmd.Kind, cmd.Idle = sessions.KindIdle, uint32(secs)
	return cmd, e
}

func prepPUpdate(sg *sessions.Signer, args [][]byte) (sessions.Command, string) {
	cmd, e := tokenCmd(sg, args[1], args[2], nil)
	if e != "" {
		return cmd, e
	}
	cmd.Kind = sessions.KindPUpdate
	for i := 3; i < len(args); {
		// The store enforces the cap too (REST, peers); refusing here, with the arguments,
		// spares building and forwarding a command that cannot run.
		if len(cmd.Updates) == sessions.MaxUpdateSteps {
			return cmd, errSteps(sessions.MaxUpdateSteps)
		}
		switch strings.ToUpper(string(args[i])) {
		case "SET":
			if i+2 >= len(args) {
				return cmd, errSyntax
			}
			cmd.Updates = append(cmd.Updates, sessions.Update{Name: args[i+1], Data: args[i+2]})
			i += 3
		case "DEL":
			if i+1 >= len(args) {
				return cmd, errSyntax
			}
			cmd.Updates = append(cmd.Updates, sessions.Update{Name: args[i+1], Delete: true})
			i += 2
		default:
			return cmd, errSyntax
		}
	}
	return cmd, ""
}

func cmdCreate(c *client, sg *sessions.Signer, args [][]byte) reply {
	if len(args[1]) == 0 {
		return errReply(errKeyEmpty)
	}
	ttl, ok := parseSeconds(args[2], sessions.MaxTTL)
	if !ok {
		return errReply(errTTL)
	}
	cmd := sessions.Command{Kind: sessions.KindStart, TTL: ttl}
	for i := 3; i < len(args); i++ {
		opt := strings.ToUpper(string(args[i]))
		if opt == "EVICT" || opt == "REFUSE" {
			if cmd.MaxSessions == 0 {
				return errReply(errSyntax)
			}
			cmd.Evict = opt == "EVICT"
			continue
		}
		if i+1 >= len(args) {
			return errReply(errSyntax)
		}
		v := args[i+1]
		i++
		switch opt {
		case "OWNER":
			if e := checkOwner(v); e != "" {
				return errReply(e)
			}
			cmd.Owner = v
		case "IDLE":
			secs, ok := parseSeconds(v, sessions.MaxTTL)
			if !ok {
				return errReply(errSeconds)
			}
			cmd.Idle = uint32(secs)
		case "IP":
			if len(v) > sessions.MaxIPLen {
				return errReply("<ip> length exceeds the maximum value allowed of 100")
			}
			cmd.IP = v
		case "UA":
			if len(v) > sessions.MaxUALen {
				return errReply("<ua> length exceeds the maximum value allowed of 1024")
			}
			cmd.UA = v
		case "MAXSESSIONS":
			n, ok := parseSeconds(v, 1<<20)
			if !ok || n == 0 {
				return errReply("<maxsessions> must be a positive integer")
			}
			cmd.MaxSessions = int(n)
		default:
			return errReply(errSyntax)
		}
	}
	if cmd.MaxSessions > 0 && len(cmd.Owner) == 0 {
		return errReply("ERR MAXSESSIONS needs an OWNER")
	}
	return c.start(sg, args[1], cmd)
}

func checkOwner(o []byte) string {
	if len(o) == 0 {
		return errOwnerEmpty
	}
	if len(o) > sessions.MaxOwnerLen {
		return errOwnerTooLong
	}
	return ""
}

func cmdOwner(kind sessions.Kind) func(*client, *sessions.Signer, [][]byte) reply {
	return func(c *client, sg *sessions.Signer, args [][]byte) reply {
		if len(args[1]) == 0 {
			return errReply(errKeyEmpty)
		}
		if e := checkOwner(args[2]); e != "" {
			return errReply(e)
		}
		sg.Reset(args[1])
		cmd := sessions.Command{Kind: kind, Tenant: sg.Tenant(), Owner: args[2]}
		res, err := c.do(&cmd)
		if err != nil {
			return errorReply(err)
		}
		if kind == sessions.KindEndOwner {
			return reply{kind: rInt, n: res.Int}
		}
		sg.Reset(args[1])
		return listReply(sg, res.Sessions)
	}
}

func cmdEndAll(c *client, sg *sessions.Signer, args [][]byte) reply {
	if len(args[1]) == 0 {
		return errReply(errKeyEmpty)
	}
	sg.Reset(args[1])
	res, err := c.do(&sessions.Command{Kind: sessions.KindEndAll, Tenant: sg.Tenant()})
	if err != nil {
		return errorReply(err)
	}
	return reply{kind: rInt, n: res.Int}
}

func cmdActivity(kind sessions.Kind) func(*client, *sessions.Signer, [][]byte) reply {
	return func(c *client, sg *sessions.Signer, args [][]byte) reply {
		if len(args[1]) == 0 {
			return errReply(errKeyEmpty)
		}
		secs, ok := parseSeconds(args[2], sessions.MaxTTL)
		if !ok {
			return errReply(errSeconds)
		}
		cmd := sessions.Command{Kind: kind, Seconds: secs, Limit: 1000}
		if kind == sessions.KindActivity && len(args) != 3 {
			return errReply("ERR wrong number of arguments for 'sessiongate.activity' command")
		}
		if len(args) > 3 {
			if len(args) != 5 || !strings.EqualFold(string(args[3]), "LIMIT") {
				return errReply(errSyntax)
			}
			n, ok := parseSeconds(args[4], sessions.MaxActiveLimit)
			if !ok || n == 0 {
				return errReply("<limit> must be an integer from 1 to 100000")
			}
			cmd.Limit = int(n)
		}
		sg.Reset(args[1])
		cmd.Tenant = sg.Tenant()
		res, err := c.do(&cmd)
		if err != nil {
			return errorReply(err)
		}
		if kind == sessions.KindActivity {
			return reply{kind: rInt, n: res.Int}
		}
		return listReply(sg, res.Sessions)
	}
}
