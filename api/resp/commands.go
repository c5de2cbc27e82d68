package resp

import (
	"crypto/subtle"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/ratelog"
	"github.com/sessiongate/sessiongate/sessions"
)

type handler struct {
	// fn runs a command that cannot be prepared ahead, alone; nil when prep is set.
	fn    func(c *client, sg *sessions.Signer, args [][]byte) reply
	arity int // exact when positive; at least -arity when negative (Redis's convention)
	flags []string
	name  string // filled in by commands()
	// prep, when set, checks the arguments into a command without running it, so that a
	// pipeline's commands can reach the backend together (see runBatch).
	prep prepFn
	// kind is the session command the handler runs (0: none); its Traits give the flags.
	kind sessions.Kind
}

// commands returns the flat table of every command, one handler each.
func commands() map[string]handler {
	t := commandList()
	for name, h := range t {
		h.name = name
		t[name] = h
	}
	return t
}

// session is the handler of a session command that runs alone.
func session(kind sessions.Kind, fn func(*client, *sessions.Signer, [][]byte) reply, arity int) handler {
	return handler{fn: fn, arity: arity, flags: kindFlags(kind), kind: kind}
}

// prepared is the handler of a session command that a pipeline hands down with others.
func prepared(kind sessions.Kind, prep prepFn, arity int) handler {
	return handler{prep: prep, arity: arity, flags: kindFlags(kind), kind: kind}
}

// kindFlags are COMMAND's flags for a session command, from the command table: "write" for a
// command that may change state, "readonly" for any other.
func kindFlags(kind sessions.Kind) []string {
	if kind.Traits().Write {
		return []string{"write"}
	}
	return []string{"readonly"}
}

func commandList() map[string]handler {
	guard := &crossGuard{warn: ratelog.Limiter{Every: time.Minute}}
	return map[string]handler{
		"sessiongate.start":    session(sessions.KindStart, cmdStart, 3),
		"sessiongate.expire":   prepared(sessions.KindExpire, prepExpire, 4),
		"sessiongate.pset":     prepared(sessions.KindPSet, prepToken(sessions.KindPSet), 5),
		"sessiongate.pget":     prepared(sessions.KindPGet, prepToken(sessions.KindPGet), 4),
		"sessiongate.pdel":     prepared(sessions.KindPDel, prepToken(sessions.KindPDel), 4),
		"sessiongate.end":      prepared(sessions.KindEnd, prepToken(sessions.KindEnd), 3),
		"sessiongate.create":   session(sessions.KindStart, cmdCreate, -3),
		"sessiongate.info":     prepared(sessions.KindInfo, prepToken(sessions.KindInfo), 3),
		"sessiongate.pgetall":  prepared(sessions.KindPGetAll, prepToken(sessions.KindPGetAll), 3),
		"sessiongate.pupdate":  prepared(sessions.KindPUpdate, prepPUpdate, -5),
		"sessiongate.ttl":      prepared(sessions.KindTTL, prepToken(sessions.KindTTL), 3),
		"sessiongate.idle":     prepared(sessions.KindIdle, prepIdle, 4),
		"sessiongate.rotate":   session(sessions.KindRotate, cmdRotate, 3),
		"sessiongate.list":     session(sessions.KindList, cmdOwner(sessions.KindList), 3),
		"sessiongate.endowner": session(sessions.KindEndOwner, cmdOwner(sessions.KindEndOwner), 3),
		"sessiongate.endall":   session(sessions.KindEndAll, cmdEndAll, 2),
		"sessiongate.activity": session(sessions.KindActivity, cmdActivity(sessions.KindActivity), 3),
		"sessiongate.active":   session(sessions.KindActive, cmdActivity(sessions.KindActive), -3),
		// CLUSTER reports on the cluster and runs no session command.
		"sessiongate.cluster": {fn: cmdCluster, arity: -2, flags: []string{"readonly"}},
		"ping":                {fn: cmdPing, arity: -1, flags: []string{"fast"}},
		"echo":                {fn: cmdEcho, arity: 2, flags: []string{"fast"}},
		"auth":                {fn: cmdAuth, arity: -2, flags: []string{"fast", "no-auth"}},
		"hello":               {fn: cmdHello, arity: -1, flags: []string{"fast", "no-auth"}},
		"select":              {fn: cmdSelect, arity: 2, flags: []string{"fast"}},
		"quit":                {fn: cmdQuit, arity: -1, flags: []string{"fast", "no-auth"}},
		"client":              {fn: cmdClient, arity: -2, flags: []string{"admin"}},
		"command":             {fn: cmdCommand, arity: -1, flags: []string{"loading"}},
		"info":                {fn: cmdInfo, arity: -1, flags: []string{"loading"}},
		"post":                {fn: guard.refuse, arity: -1, flags: []string{"no-auth"}},
		"host:":               {fn: guard.refuse, arity: -1, flags: []string{"no-auth"}},
	}
}

// crossGuard answers what an HTTP request sent to the RESP port begins with (a POST line, a
// Host: header) as Redis does: the connection is closed at once, without a reply, and a
// warning is logged, at most once a minute for the whole server. The reader frames
// nothing after such a request, so no command a request body carries runs.
type crossGuard struct{ warn ratelog.Limiter }

func (g *crossGuard) refuse(c *client, _ *sessions.Signer, args [][]byte) reply {
	c.quit = true
	g.warn.Warn(c.s.cfg.Logger, "possible security attack: a client sent an HTTP request to the RESP port "+
		"(cross-protocol scripting); connection closed",
		"remote", c.nc.RemoteAddr().String(), "command", trunc(args[0]))
	return reply{closed: true}
}

func cmdPing(c *client, _ *sessions.Signer, args [][]byte) reply {
	switch len(args) {
	case 1:
		return reply{kind: rStatus, str: "PONG"}
	case 2:
		return reply{kind: rBulk, bulk: args[1]}
	}
	return errReply("ERR wrong number of arguments for 'ping' command")
}

func cmdEcho(c *client, _ *sessions.Signer, args [][]byte) reply {
	return reply{kind: rBulk, bulk: args[1]}
}

func cmdQuit(c *client, _ *sessions.Signer, args [][]byte) reply {
	c.quit = true
	return reply{kind: rOK}
}

func cmdSelect(c *client, _ *sessions.Signer, args [][]byte) reply {
	if string(args[1]) != "0" {
		return errReply("ERR DB index is out of range")
	}
	return reply{kind: rOK}
}

// checkAuth compares in constant time and unlocks the connection's full limits.
func (c *client) checkAuth(user, pass []byte) reply {
	if c.s.cfg.RequirePass == "" {
		return errReply("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
	}
	okUser := user == nil || string(user) == "default"
	if !okUser || subtle.ConstantTimeCompare(pass, []byte(c.s.cfg.RequirePass)) != 1 {
		return errReply("WRONGPASS invalid username-password pair or user is disabled.")
	}
	c.authed = true
	c.rd.lim = limits{maxArgs: c.s.cfg.MaxArgs, maxBulk: c.s.cfg.MaxBulk, maxCommand: c.s.cfg.MaxCommandBytes}
	return reply{kind: rOK}
}

func cmdAuth(c *client, _ *sessions.Signer, args [][]byte) reply {
	switch len(args) {
	case 2:
		return c.checkAuth(nil, args[1])
	case 3:
		return c.checkAuth(args[1], args[2])
	}
	return errReply(errSyntax)
}

func cmdHello(c *client, _ *sessions.Signer, args [][]byte) reply {
	proto := c.proto
	if len(args) > 1 {
		v, err := strconv.Atoi(string(args[1]))
		if err != nil {
			return errReply("ERR Protocol version is not an integer or out of range")
		}
		if v != 2 && v != 3 {
			return errReply("NOPROTO unsupported protocol version")
		}
		proto = v
	}
	for i := 2; i < len(args); i++ {
		switch strings.ToUpper(string(args[i])) {
		case "AUTH":
			if i+2 >= len(args) {
				return errReply(errSyntax)
			}
			if r := c.checkAuth(args[i+1], args[i+2]); r.kind == rErr {
				return r
			}
			i += 2
		case "SETNAME":
			if i+1 >= len(args) {
				return errReply(errSyntax)
			}
			c.name = string(args[i+1])
			i++
		default:
			return errReply(errSyntax)
		}
	}
	if !c.authed {
		return errReply("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	}
	c.proto = proto
	return reply{kind: rArray, isMap: true, array: []reply{
		bulk("server"), bulk("sessiongate"),
		bulk("version"), bulk(c.s.cfg.Version),
		bulk("proto"), {kind: rInt, n: int64(proto)},
		bulk("id"), {kind: rInt, n: c.id},
		bulk("mode"), bulk("standalone"),
		bulk("role"), bulk("master"),
		bulk("modules"), {kind: rArray},
	}}
}

func cmdClient(c *client, _ *sessions.Signer, args [][]byte) reply {
	switch strings.ToUpper(string(args[1])) {
	case "SETNAME":
		if len(args) != 3 {
			return errReply("ERR wrong number of arguments for 'client|setname' command")
		}
		if strings.ContainsAny(string(args[2]), " \n") {
			return errReply("ERR Client names cannot contain spaces, newlines or special characters.")
		}
		c.name = string(args[2])
		return reply{kind: rOK}
	case "GETNAME":
		if c.name == "" {
			return reply{kind: rNull}
		}
		return reply{kind: rBulk, bulk: []byte(c.name)}
	case "ID":
		return reply{kind: rInt, n: c.id}
	case "SETINFO":
		if len(args) != 4 {
			return errReply("ERR wrong number of arguments for 'client|setinfo' command")
		}
		switch strings.ToUpper(string(args[2])) {
		case "LIB-NAME", "LIB-VER":
			c.lib += string(args[3]) + " "
			return reply{kind: rOK}
		}
		return errReply("ERR Unrecognized option '" + trunc(args[2]) + "'")
	case "INFO":
		return reply{kind: rBulk, bulk: []byte(fmt.Sprintf("id=%d addr=%s name=%s resp=%d lib=%s\n",
			c.id, c.nc.RemoteAddr(), c.name, c.proto, strings.TrimSpace(c.lib)))}
	}
	return errReply("ERR unknown subcommand '" + trunc(args[1]) + "'. Try CLIENT HELP.")
}

// commandEntry is one COMMAND INFO reply: name, arity, flags, first key, last key, step.
func commandEntry(name string, h handler) reply {
	flags := make([]reply, len(h.flags))
	for i, f := range h.flags {
		flags[i] = reply{kind: rStatus, str: f}
	}
	return reply{kind: rArray, array: []reply{
		{kind: rBulk, bulk: []byte(name)}, {kind: rInt, n: int64(h.arity)},
		{kind: rArray, array: flags}, {kind: rInt}, {kind: rInt}, {kind: rInt},
	}}
}

func sortedCommands(commandTable map[string]handler) []string {
	names := make([]string, 0, len(commandTable))
	for n := range commandTable {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func cmdCommand(c *client, _ *sessions.Signer, args [][]byte) reply {
	commandTable := c.s.table
	if len(args) == 1 {
		var out []reply
		for _, n := range sortedCommands(commandTable) {
			out = append(out, commandEntry(n, commandTable[n]))
		}
		return reply{kind: rArray, array: out}
	}
	switch strings.ToUpper(string(args[1])) {
	case "COUNT":
		return reply{kind: rInt, n: int64(len(commandTable))}
	case "INFO":
		var out []reply
		names := args[2:]
		if len(names) == 0 {
			for _, n := range sortedCommands(commandTable) {
				names = append(names, []byte(n))
			}
		}
		for _, n := range names {
			if h, ok := commandTable[strings.ToLower(string(n))]; ok {
				out = append(out, commandEntry(strings.ToLower(string(n)), h))
			} else {
				out = append(out, reply{kind: rNull})
			}
		}
		return reply{kind: rArray, array: out}
	case "DOCS":
		// Enough for redis-cli's hints: a summary per command.
		var out []reply
		for _, n := range sortedCommands(commandTable) {
			if len(args) > 2 && !slices.ContainsFunc(args[2:], func(a []byte) bool { return strings.EqualFold(string(a), n) }) {
				continue
			}
			out = append(out, reply{kind: rBulk, bulk: []byte(n)}, reply{kind: rArray, isMap: true, array: []reply{
				{kind: rBulk, bulk: []byte("summary")}, {kind: rBulk, bulk: []byte("see docs/commands.md")},
				{kind: rBulk, bulk: []byte("group")}, {kind: rBulk, bulk: []byte("sessiongate")},
			}})
		}
		return reply{kind: rArray, array: out, isMap: true}
	}
	return errReply("ERR unknown subcommand '" + trunc(args[1]) + "'. Try COMMAND HELP.")
}

func cmdInfo(c *client, _ *sessions.Signer, args [][]byte) reply {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["everything"] || want["default"]
	s := c.s
	port := ""
	if a := s.Addr(); a != nil {
		if i := strings.LastIndexByte(a.String(), ':'); i >= 0 {
			port = a.String()[i+1:]
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sections := []api.Section{
		{Name: "server", Fields: [][2]string{
			{"redis_version", "7.2.0"}, {"sessiongate_version", s.cfg.Version}, {"redis_mode", "standalone"},
			{"os", runtime.GOOS + " " + runtime.GOARCH}, {"process_id", strconv.Itoa(s.pid())},
			{"tcp_port", port}, {"uptime_in_seconds", strconv.Itoa(int(time.Since(s.started).Seconds()))},
		}},
		{Name: "clients", Fields: [][2]string{
			{"connected_clients", strconv.FormatInt(s.connCount.Load(), 10)},
			{"maxclients", strconv.Itoa(s.cfg.MaxConns)},
		}},
		// used_memory is the Go heap until the backend reports the store's own count, which
		// is what --maxmemory is compared with.
		{Name: "memory", Fields: [][2]string{
			{"used_memory", strconv.FormatUint(ms.HeapAlloc, 10)},
			{"used_memory_heap", strconv.FormatUint(ms.HeapAlloc, 10)},
			{"used_memory_rss", strconv.FormatUint(ms.Sys, 10)},
			{"heap_objects", strconv.FormatUint(ms.HeapObjects, 10)},
		}},
		{Name: "stats", Fields: [][2]string{
			{"total_connections_received", strconv.FormatUint(s.stats.connections.Load(), 10)},
			{"total_commands_processed", strconv.FormatUint(s.stats.commands.Load(), 10)},
			{"total_error_replies", strconv.FormatUint(s.stats.errors.Load(), 10)},
			{"rejected_connections", strconv.FormatUint(s.stats.rejected.Load(), 10)},
		}},
	}
	if s.cfg.Sections != nil {
		for _, sec := range s.cfg.Sections() {
			sections = mergeSection(sections, sec)
		}
	}
	var b strings.Builder
	for _, sec := range sections {
		if !all && !want[sec.Name] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + strings.ToUpper(sec.Name[:1]) + sec.Name[1:] + "\r\n")
		for _, f := range sec.Fields {
			b.WriteString(f[0] + ":" + f[1] + "\r\n")
		}
	}
	return reply{kind: rBulk, bulk: []byte(b.String())}
}

// mergeSection adds a backend's section to INFO's: one with the name of a section already
// there extends it, its fields taking the place of those of the same name.
func mergeSection(sections []api.Section, add api.Section) []api.Section {
	i := slices.IndexFunc(sections, func(s api.Section) bool { return s.Name == add.Name })
	if i < 0 {
		return append(sections, add)
	}
	fields := slices.Clone(sections[i].Fields)
	for _, f := range add.Fields {
		if j := slices.IndexFunc(fields, func(g [2]string) bool { return g[0] == f[0] }); j >= 0 {
			fields[j] = f
		} else {
			fields = append(fields, f)
		}
	}
	sections[i].Fields = fields
	return sections
}
