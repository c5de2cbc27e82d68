package httpapi

import (
	"encoding/json"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// Sliding ttl, as redis-sessions has it: every get and set moves a session's end to ttl
// seconds after that access. A REST session made without no_resave carries two deadlines:
//
//   - an idle timeout of ttl, which its primary moves with every read and write for free
//     (no message), so a session left alone ends exactly ttl after its last access;
//   - an absolute deadline, which the gateway keeps more than renewBelow ttls ahead of every
//     access: an access that finds it closer sets it renewAhead ttls ahead (an EXPIRE, a
//     write the cluster replicates, which also carries the last access to the backups).
//
// Renewals therefore happen at most once per (renewAhead - renewBelow) = ttl/2 of activity.
// At any access the deadline is more than ttl/2 away (the access before left it at least 1.5
// ttl ahead, and the session lives less than ttl past that access), so a renewal lands long
// before the deadline could cut an active session short.
const (
	renewAhead    = 2
	renewBelowPct = 150 // renewBelow, in percent of ttl
)

// restSession is rest-sessions' JSON shape of a session.
type restSession struct {
	ID       string                     `json:"id"`
	R        uint32                     `json:"r"`
	W        uint32                     `json:"w"`
	TTL      int64                      `json:"ttl"`
	Idle     int64                      `json:"idle"`
	IP       string                     `json:"ip"`
	D        map[string]json.RawMessage `json:"d,omitempty"`
	NoResave bool                       `json:"no_resave,omitempty"`
}

// sliding reports whether a session's ttl slides: it has an idle timeout. A session without
// one (no_resave, or made over RESP without IDLE) ends at its absolute deadline.
func sliding(info *sessions.Info) bool { return info.IdleTimeout != 0 }

// needsRenewal reports whether an access at nowMs must move a sliding session's absolute
// deadline (deadline 0: unknown, from a node that predates describe flags).
func needsRenewal(info *sessions.Info, deadline, nowMs int64) bool {
	return sliding(info) && (deadline == 0 || deadline-nowMs < int64(info.IdleTimeout)*10*renewBelowPct)
}

// renewal is the EXPIRE that sets a sliding session's absolute deadline renewAhead ttls ahead.
func renewal(cmd sessions.Command, info *sessions.Info) *sessions.Command {
	cmd.Kind, cmd.TTL, cmd.Limit = sessions.KindExpire, int64(info.IdleTimeout)*renewAhead, 0
	return &cmd
}

// data is a session's payloads keyed by name, as the REST API shows them.
type data map[string]json.RawMessage

func dataOf(fields []sessions.Field) data {
	d := data{}
	for _, f := range fields {
		if json.Valid(f.Data) {
			d[string(f.Name)] = json.RawMessage(f.Data)
		} else {
			b, _ := json.Marshal(string(f.Data)) // set over RESP with non-JSON data
			d[string(f.Name)] = b
		}
	}
	return d
}

// merge applies a set's d as the store does: null deletes a key, others replace it.
func (d data) merge(entries []dEntry) {
	for _, e := range entries {
		if e.val == nil {
			delete(d, e.key)
		} else {
			d[e.key] = e.val
		}
	}
}

// render shapes a session as rest-sessions does. redis-sessions counts the create as the
// first read and the first write, so a session's r and w are one more than the store's
// counts; a get answers r before its own read (the store's count after it, which is the
// same number). ttl is the setting of a sliding session and the time left otherwise;
// idle is the time since lastSeen, which the caller gives as the access before this one.
func render(info *sessions.Info, d data, reads, writes uint32, now time.Time) restSession {
	out := restSession{ID: string(info.Owner), R: reads, W: writes, IP: string(info.IP),
		Idle: max(0, now.UnixMilli()-info.LastSeen) / 1000}
	if sliding(info) {
		out.TTL = int64(info.IdleTimeout)
	} else {
		out.TTL, out.NoResave = (info.TTL+999)/1000, true
	}
	if len(d) > 0 {
		out.D = d
	}
	return out
}
