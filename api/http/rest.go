// Package httpapi is the HTTP front end: the rest-sessions REST routes, Prometheus metrics,
// health and readiness, and a status page. Like the RESP front end it only builds checked
// commands and hands them to the node, which runs them wherever they must run.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// writeError is the one place errors become HTTP replies: a status and a JSON body.
func writeError(w http.ResponseWriter, err error) {
	status, msg := http.StatusInternalServerError, err.Error()
	var ae *apiError
	var se *sessions.Error
	switch {
	case errors.As(err, &ae):
		status = ae.status
	case errors.As(err, &se):
		switch se.Code {
		case sessions.CodeNoSession, sessions.CodeNoPayload:
			status = http.StatusNotFound
		case sessions.CodeWrongKey:
			status = http.StatusForbidden
		case sessions.CodeOwnerLimit:
			status = http.StatusConflict
		case sessions.CodeOOM:
			status = http.StatusInsufficientStorage // the node's state, not the request's fault
		default:
			status = http.StatusBadRequest
		}
	case errors.Is(err, api.ErrTryAgain), errors.Is(err, context.DeadlineExceeded), errors.Is(err, api.ErrClosed):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // as rest-sessions writes them: "ttl must be a positive integer >= 10"
	enc.Encode(v)
}

// rest serves the rest-sessions routes for the configured apps.
type rest struct {
	b       Backend
	apps    map[string][]byte // app name -> sign key
	tokens  accessTokens
	timeout time.Duration
}

func (s *rest) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("PONG")) })
	mux.HandleFunc("PUT /{app}/create/{id}", s.handle(s.create))
	mux.HandleFunc("GET /{app}/get/{token}", s.handle(s.get))
	mux.HandleFunc("POST /{app}/set/{token}", s.handle(s.set))
	mux.HandleFunc("GET /{app}/activity", s.handle(s.activity))
	mux.HandleFunc("GET /{app}/soapp", s.handle(s.soapp))
	mux.HandleFunc("GET /{app}/soid/{id}", s.handle(s.soid))
	mux.HandleFunc("DELETE /{app}/kill/{token}", s.handle(s.kill))
	mux.HandleFunc("DELETE /{app}/killsoid/{id}", s.handle(s.killsoid))
	mux.HandleFunc("DELETE /{app}/killall", s.handle(s.killall))
}

// call is one request's context: the app's signer and a bounded context.
type call struct {
	ctx    context.Context
	signer *sessions.Signer
	r      *http.Request
}

func (s *rest) handle(fn func(c *call) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app := r.PathValue("app")
		key, ok := s.apps[app]
		if !ok {
			writeError(w, &apiError{http.StatusNotFound, "unknown app " + strconv.Quote(app) + " (apps are configured with --http-apps)"})
			return
		}
		if !s.tokens.allows(app, r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sessiongate"`)
			writeError(w, &apiError{http.StatusUnauthorized, "app " + strconv.Quote(app) + " needs its access token: Authorization: Bearer <token>"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		status, body, err := fn(&call{ctx: ctx, signer: sessions.NewSigner(key), r: r})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, body)
	}
}

// session checks a token from the path.
func (c *call) session() (sessions.Command, error) {
	id, sig, err := sessions.ParseToken([]byte(c.r.PathValue("token")))
	if err != nil {
		return sessions.Command{}, &apiError{http.StatusNotFound, "token format is invalid"}
	}
	if !c.signer.Verify(id, sig) {
		return sessions.Command{}, &apiError{http.StatusNotFound, "token signature is invalid"}
	}
	return sessions.Command{Tenant: c.signer.Tenant(), ID: id}, nil
}

// describe reads a session with its payloads and absolute deadline in one INFO; quiet reads
// count no read and leave the last access alone. A node that predates describe flags
// answers a plain INFO (deadline 0): the payloads then take a PGETALL of their own.
func (s *rest) describe(c *call, cmd sessions.Command, quiet bool) (sessions.Result, error) {
	cmd.Kind, cmd.Limit = sessions.KindInfo, sessions.DescribePayloads
	if quiet {
		cmd.Limit |= sessions.DescribeQuietly
	}
	res, err := s.b.Do(c.ctx, &cmd)
	if err != nil || res.Int != 0 {
		return res, err
	}
	cmd.Kind, cmd.Limit = sessions.KindPGetAll, 0
	all, err := s.b.Do(c.ctx, &cmd)
	res.Fields = all.Fields
	return res, err
}

// touch renews a sliding session's absolute deadline when an access finds it too close.
func (s *rest) touch(c *call, cmd sessions.Command, res *sessions.Result, now time.Time) error {
	if !needsRenewal(res.Info, res.Int, now.UnixMilli()) {
		return nil
	}
	_, err := s.b.Do(c.ctx, renewal(cmd, res.Info))
	return err
}

func (s *rest) create(c *call) (int, any, error) {
	owner := c.r.PathValue("id")
	if err := checkID(owner); err != nil {
		return 0, nil, err
	}
	ip := c.r.URL.Query().Get("ip")
	if err := checkIP(ip); err != nil {
		return 0, nil, err
	}
	ttl, err := ttlParam(c.r, "ttl")
	if err != nil {
		return 0, nil, err
	}
	if ttl > maxTTL {
		return 0, nil, badRequest(fmt.Sprintf("ttl must be at most %d", maxTTL))
	}
	d, err := readD(c.r)
	if err != nil {
		return 0, nil, err
	}
	cmd := sessions.Command{Kind: sessions.KindStart, Tenant: c.signer.Tenant(), TTL: ttl * renewAhead,
		Idle: uint32(ttl), Owner: []byte(owner), IP: []byte(ip), UA: []byte(c.r.UserAgent())}
	if nr := c.r.URL.Query().Get("no_resave"); nr == "true" || nr == "1" {
		cmd.TTL, cmd.Idle = ttl, 0
	}
	if len(cmd.UA) > sessions.MaxUALen {
		cmd.UA = cmd.UA[:sessions.MaxUALen]
	}
	for attempt := 0; ; attempt++ {
		cmd.ID, err = sessions.NewID(rand.Reader, sessions.OwnerSlot(cmd.Tenant, cmd.Owner))
		if err != nil {
			return 0, nil, err
		}
		cmd.NewMAC = c.signer.MAC(cmd.ID) // kept in the record: RESP commands need no HMAC then
		_, err = s.b.Do(c.ctx, &cmd)
		if errors.Is(err, sessions.ErrBadCommand) && attempt < 2 {
			continue
		}
		break
	}
	if err != nil {
		return 0, nil, err
	}
	// As redis-sessions does, null values of the initial d are dropped.
	d = slices.DeleteFunc(d, func(e dEntry) bool { return e.val == nil })
	if len(d) > 0 {
		if _, err := s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindPUpdate, Tenant: cmd.Tenant, ID: cmd.ID, Updates: updates(d)}); err != nil {
			// A create refused leaves no session behind (its client never learns the token).
			s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindEnd, Tenant: cmd.Tenant, ID: cmd.ID})
			return 0, nil, err
		}
	}
	return http.StatusOK, map[string]string{"token": string(sessions.AppendTokenMAC(nil, cmd.ID, &cmd.NewMAC))}, nil
}

// get is one read: it answers the session with r counting this get and idle the time since
// the access before it.
func (s *rest) get(c *call) (int, any, error) {
	cmd, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	res, err := s.describe(c, cmd, false)
	if err != nil {
		return 0, nil, err
	}
	now := time.Now()
	if err := s.touch(c, cmd, &res, now); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, render(res.Info, dataOf(res.Fields), res.Info.Reads, res.Info.Writes+1, now), nil
}

// set is one write and no read: the session as it was, merged with d, as redis-sessions
// answers it.
func (s *rest) set(c *call) (int, any, error) {
	cmd, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	d, err := readD(c.r)
	switch {
	case err != nil:
		return 0, nil, err
	case d == nil:
		return 0, nil, badRequest(errNoD)
	case len(d) == 0:
		return 0, nil, badRequest(errDEmpty)
	}
	res, err := s.describe(c, cmd, true)
	if err != nil {
		return 0, nil, err
	}
	up := cmd
	up.Kind, up.Updates = sessions.KindPUpdate, updates(d)
	if _, err := s.b.Do(c.ctx, &up); err != nil {
		return 0, nil, err
	}
	now := time.Now()
	if err := s.touch(c, cmd, &res, now); err != nil {
		return 0, nil, err
	}
	all := dataOf(res.Fields)
	all.merge(d)
	return http.StatusOK, render(res.Info, all, res.Info.Reads+1, res.Info.Writes+2, now), nil
}

// list answers sessions with their data; listing is not an access.
func (s *rest) list(c *call, cmd sessions.Command) (int, any, error) {
	res, err := s.b.Do(c.ctx, &cmd)
	if err != nil {
		return 0, nil, err
	}
	out := make([]restSession, 0, len(res.Sessions))
	for i := range res.Sessions {
		one, err := s.describe(c, sessions.Command{Tenant: cmd.Tenant, ID: res.Sessions[i].ID}, true)
		if errors.Is(err, sessions.ErrNoSession) {
			continue // ended meanwhile
		}
		if err != nil {
			return 0, nil, err
		}
		out = append(out, render(one.Info, dataOf(one.Fields), one.Info.Reads+1, one.Info.Writes+1, time.Now()))
	}
	return http.StatusOK, map[string]any{"sessions": out}, nil
}

func (s *rest) activity(c *call) (int, any, error) {
	dt, err := ttlParam(c.r, "dt")
	if err != nil {
		return 0, nil, err
	}
	res, err := s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindActivity, Tenant: c.signer.Tenant(), Seconds: min(dt, sessions.MaxTTL)})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int64{"activity": res.Int}, nil
}

func (s *rest) soapp(c *call) (int, any, error) {
	dt, err := ttlParam(c.r, "dt")
	if err != nil {
		return 0, nil, err
	}
	return s.list(c, sessions.Command{Kind: sessions.KindActive, Tenant: c.signer.Tenant(), Seconds: min(dt, sessions.MaxTTL), Limit: 1000})
}

func (s *rest) soid(c *call) (int, any, error) {
	owner := c.r.PathValue("id")
	if err := checkID(owner); err != nil {
		return 0, nil, err
	}
	return s.list(c, sessions.Command{Kind: sessions.KindList, Tenant: c.signer.Tenant(), Owner: []byte(owner)})
}

func (s *rest) kill(c *call) (int, any, error) {
	cmd, err := c.session()
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusNotFound {
			return http.StatusOK, map[string]int{"kill": 0}, nil
		}
		return 0, nil, err
	}
	cmd.Kind = sessions.KindEnd
	if _, err := s.b.Do(c.ctx, &cmd); err != nil {
		if errors.Is(err, sessions.ErrNoSession) {
			return http.StatusOK, map[string]int{"kill": 0}, nil
		}
		return 0, nil, err
	}
	return http.StatusOK, map[string]int{"kill": 1}, nil
}

func (s *rest) killsoid(c *call) (int, any, error) {
	owner := c.r.PathValue("id")
	if err := checkID(owner); err != nil {
		return 0, nil, err
	}
	res, err := s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindEndOwner, Tenant: c.signer.Tenant(), Owner: []byte(owner)})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int64{"kill": res.Int}, nil
}

func (s *rest) killall(c *call) (int, any, error) {
	res, err := s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindEndAll, Tenant: c.signer.Tenant()})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int64{"kill": res.Int}, nil
}
