package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sessiongate/sessiongate/sessions"
)

// redis-sessions' error texts, word for word (its typo included): clients match on them.
const (
	errNoIP     = "No ip supplied"
	errIPFormat = "Invalid ip format"
	errIDFormat = "Invalid id format"
	errTTL      = "ttl must be a positive integer >= 10" // also its text for a bad dt
	errNoD      = "No d supplied"
	errDObject  = "d must be an object"
	errDEmpty   = "d must containt at least one key."
	errDType    = "d.%s has a forbidden type. Only strings, numbers, boolean and null are allowed."
)

// redis-sessions' input rules.
const (
	defaultTTL = 7200
	minTTL     = 10 // for ttl and dt alike
	maxIPChars = 39
	maxIDChars = 128
	// maxBody bounds a request body; payload data is at most 8 MB.
	maxBody = 16 << 20
)

// maxTTL is the longest sliding ttl: the absolute deadline runs up to renewAhead ttls ahead.
const maxTTL = sessions.MaxTTL / renewAhead

func badRequest(msg string) error { return &apiError{http.StatusBadRequest, msg} }

// ttlParam reads ?ttl= (default 7200) or ?dt= (required) in whole seconds, at least 10.
func ttlParam(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" && name == "ttl" {
		return defaultTTL, nil
	}
	n, ok := leadingInt(v)
	if !ok || n < minTTL {
		return 0, badRequest(errTTL)
	}
	return n, nil
}

// leadingInt reads a number as JavaScript's parseInt does, which redis-sessions uses: the
// integer that starts the text after any spaces ("3600.0" and "60s" are 3600 and 60).
func leadingInt(v string) (int64, bool) {
	v = strings.TrimLeft(v, " \t\n\r")
	end := 0
	if end < len(v) && (v[0] == '+' || v[0] == '-') {
		end++
	}
	digits := end
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	if end == digits {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:end], 10, 64)
	if err != nil { // beyond int64: far past any ttl
		return math.MaxInt64, v[0] != '-'
	}
	return n, true
}

// checkIP applies redis-sessions' rule (1..39 characters) and the store's byte limit.
func checkIP(ip string) error {
	switch {
	case ip == "":
		return badRequest(errNoIP)
	case utf8.RuneCountInString(ip) > maxIPChars || len(ip) > sessions.MaxIPLen:
		return badRequest(errIPFormat)
	}
	return nil
}

// checkID applies redis-sessions' rule (1..128 characters) and the store's byte limit.
func checkID(id string) error {
	if id == "" || utf8.RuneCountInString(id) > maxIDChars || len(id) > sessions.MaxOwnerLen {
		return badRequest(errIDFormat)
	}
	return nil
}

// dEntry is one key of a request's d, in the order the body gives them.
type dEntry struct {
	key string
	val json.RawMessage // nil for null
}

// readD reads a body that is redis-sessions' d: a JSON object whose values are strings,
// numbers, booleans or null. An empty body is no d (nil, nil). Keys keep their order, so
// that the first forbidden key is the one reported, as redis-sessions does; a repeated key
// keeps its last value, as JSON.parse does.
func readD(r *http.Request) ([]dEntry, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", maxBody)}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, &apiError{http.StatusRequestTimeout, "request body not received in time"}
		}
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' || !json.Valid(raw) {
		return nil, badRequest(errDObject)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token() // the '{' checked above
	out := []dEntry{}
	at := map[string]int{}
	for dec.More() {
		tok, _ := dec.Token() // a valid object: a string key comes next
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, badRequest(errDObject)
		}
		switch v[0] {
		case '{', '[':
			return nil, badRequest(fmt.Sprintf(errDType, key))
		case 'n':
			v = nil
		}
		if err := sessions.CheckName([]byte(key)); err != nil {
			return nil, badRequest(fmt.Sprintf("d.%s: a key must be 1 to %d bytes", key, sessions.MaxNameLen))
		}
		if i, ok := at[key]; ok {
			out[i].val = v
			continue
		}
		at[key] = len(out)
		out = append(out, dEntry{key, v})
	}
	return out, nil
}

// updates turns d into PUPDATE steps: null deletes a key.
func updates(d []dEntry) []sessions.Update {
	ups := make([]sessions.Update, 0, len(d))
	for _, e := range d {
		ups = append(ups, sessions.Update{Name: []byte(e.key), Data: e.val, Delete: e.val == nil})
	}
	return ups
}
