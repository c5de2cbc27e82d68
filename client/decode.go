package client

import (
	"fmt"
	"time"
)

// SessionInfo is what INFO, LIST and ACTIVE tell about a session.
type SessionInfo struct {
	Token       string        // set by List and Active; empty from Info
	Owner       string        // empty for a session started without one
	Created     time.Time     // to the second
	LastSeen    time.Time     // last read or write, to the second
	TTL         time.Duration // until the earlier of the absolute and the idle deadline
	IdleTimeout time.Duration // the sliding timeout, 0 for none
	Idle        time.Duration // since LastSeen
	Reads       int64
	Writes      int64
	IP          string
	UA          string
	Payloads    int // how many payload names are set
}

// malformed reports a reply of a shape the command never sends.
func malformed(cmd string, res any) error {
	return &Error{Cmd: cmd, Msg: fmt.Sprintf("unexpected reply %T", res)}
}

// pairs reads a flat name/value array (RESP2) or a map (RESP3) with string names.
func pairs(cmd string, res any) (map[string]any, error) {
	switch v := res.(type) {
	case []any:
		if len(v)%2 != 0 {
			return nil, malformed(cmd, res)
		}
		out := make(map[string]any, len(v)/2)
		for i := 0; i < len(v); i += 2 {
			k, ok := v[i].(string)
			if !ok {
				return nil, malformed(cmd, v[i])
			}
			out[k] = v[i+1]
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, malformed(cmd, k)
			}
			out[ks] = val
		}
		return out, nil
	}
	return nil, malformed(cmd, res)
}

// decodeInfo reads INFO's pairs. Names it does not know are skipped, so that a newer
// server may add some.
func decodeInfo(cmd string, res any) (SessionInfo, error) {
	m, err := pairs(cmd, res)
	if err != nil {
		return SessionInfo{}, err
	}
	var in SessionInfo
	var bad any
	str := func(name string, dst *string) {
		if v, ok := m[name]; ok {
			if s, ok := v.(string); ok {
				*dst = s
			} else {
				bad = v
			}
		}
	}
	num := func(name string) int64 {
		v, ok := m[name]
		if !ok {
			return 0
		}
		n, ok := v.(int64)
		if !ok {
			bad = v
		}
		return n
	}
	str("token", &in.Token)
	str("owner", &in.Owner)
	str("ip", &in.IP)
	str("ua", &in.UA)
	in.Created = time.Unix(num("created"), 0)
	in.LastSeen = time.Unix(num("last_seen"), 0)
	in.TTL = time.Duration(num("ttl")) * time.Second
	in.IdleTimeout = time.Duration(num("idle_timeout")) * time.Second
	in.Idle = time.Duration(num("idle")) * time.Second
	in.Reads = num("reads")
	in.Writes = num("writes")
	in.Payloads = int(num("payloads"))
	if bad != nil {
		return SessionInfo{}, malformed(cmd, bad)
	}
	return in, nil
}

// decodeList reads LIST's and ACTIVE's array of INFO entries.
func decodeList(cmd string, res any) ([]SessionInfo, error) {
	arr, ok := res.([]any)
	if !ok {
		return nil, malformed(cmd, res)
	}
	out := make([]SessionInfo, 0, len(arr))
	for _, e := range arr {
		in, err := decodeInfo(cmd, e)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// decodePayloads reads PGETALL's name/data pairs.
func decodePayloads(res any) (map[string][]byte, error) {
	const cmd = "SESSIONGATE.PGETALL"
	m, err := pairs(cmd, res)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, malformed(cmd, v)
		}
		out[k] = []byte(s)
	}
	return out, nil
}
