// Package httpapi is the HTTP front end: the rest-sessions REST routes, Prometheus metrics,
// health and readiness, and a status page. Like the RESP front end it only builds checked
// commands and hands them to the node, which runs them wherever they must run.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// restSession is rest-sessions' JSON shape of a session.
type restSession struct {
	ID   string                     `json:"id"`
	R    uint32                     `json:"r"`
	W    uint32                     `json:"w"`
	TTL  int64                      `json:"ttl"`
	Idle int64                      `json:"idle"`
	IP   string                     `json:"ip"`
	D    map[string]json.RawMessage `json:"d,omitempty"`
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

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
		default:
			status = http.StatusBadRequest
		}
	case errors.Is(err, node.ErrTryAgain), errors.Is(err, context.DeadlineExceeded), errors.Is(err, node.ErrClosed):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// rest serves the rest-sessions routes for the configured apps.
type rest struct {
	b       Backend
	apps    map[string][]byte // app name -> sign key
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
		key, ok := s.apps[r.PathValue("app")]
		if !ok {
			writeError(w, &apiError{http.StatusNotFound, "unknown app " + strconv.Quote(r.PathValue("app")) + " (apps are configured with --http-apps)"})
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

func seconds(c *call, name string, def int64) (int64, error) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		if def < 0 {
			return 0, badRequest("%s is required", name)
		}
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > sessions.MaxTTL {
		return 0, badRequest("%s must be a number of seconds, not %q", name, v)
	}
	return n, nil
}

// decodeData reads a JSON object body into PUPDATE steps: null deletes a key.
func decodeData(c *call) ([]sessions.Update, error) {
	body := http.MaxBytesReader(nil, c.r.Body, 16<<20)
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(body)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, badRequest("body must be a JSON object: %v", err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ups []sessions.Update
	for _, k := range keys {
		v := raw[k]
		if err := sessions.CheckName([]byte(k)); err != nil {
			return nil, badRequest("key %q: %v", k, err)
		}
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			ups = append(ups, sessions.Update{Name: []byte(k), Delete: true})
		} else {
			ups = append(ups, sessions.Update{Name: []byte(k), Data: v})
		}
	}
	return ups, nil
}

func (s *rest) create(c *call) (int, any, error) {
	ttl, err := seconds(c, "ttl", 7200)
	if err != nil {
		return 0, nil, err
	}
	if ttl == 0 {
		return 0, nil, badRequest("ttl must be positive")
	}
	owner := []byte(c.r.PathValue("id"))
	if len(owner) > sessions.MaxOwnerLen {
		return 0, nil, badRequest("id is longer than %d bytes", sessions.MaxOwnerLen)
	}
	ip := []byte(c.r.URL.Query().Get("ip"))
	if len(ip) > sessions.MaxIPLen {
		return 0, nil, badRequest("ip is longer than %d bytes", sessions.MaxIPLen)
	}
	ups, err := decodeData(c)
	if err != nil {
		return 0, nil, err
	}
	cmd := sessions.Command{Kind: sessions.KindStart, Tenant: c.signer.Tenant(), TTL: ttl, Owner: owner, IP: ip,
		UA: []byte(c.r.UserAgent())}
	if len(cmd.UA) > sessions.MaxUALen {
		cmd.UA = cmd.UA[:sessions.MaxUALen]
	}
	for attempt := 0; ; attempt++ {
		cmd.ID, err = sessions.NewID(rand.Reader, sessions.OwnerSlot(cmd.Tenant, owner))
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
	if len(ups) > 0 {
		if _, err := s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindPUpdate, Tenant: cmd.Tenant, ID: cmd.ID, Updates: ups}); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, map[string]string{"token": string(sessions.AppendTokenMAC(nil, cmd.ID, &cmd.NewMAC))}, nil
}

// describe renders a session with its data, as rest-sessions does.
func (s *rest) describe(c *call, info *sessions.Info) (restSession, error) {
	res, err := s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindPGetAll, Tenant: c.signer.Tenant(), ID: info.ID})
	if err != nil {
		return restSession{}, err
	}
	out := restSession{ID: string(info.Owner), R: info.Reads, W: info.Writes, TTL: (info.TTL + 999) / 1000,
		Idle: max(0, time.Now().UnixMilli()-info.LastSeen) / 1000, IP: string(info.IP)}
	if len(res.Fields) > 0 {
		out.D = map[string]json.RawMessage{}
		for _, f := range res.Fields {
			if json.Valid(f.Data) {
				out.D[string(f.Name)] = json.RawMessage(f.Data)
			} else {
				b, _ := json.Marshal(string(f.Data)) // set over RESP with non-JSON data
				out.D[string(f.Name)] = b
			}
		}
	}
	return out, nil
}

func (s *rest) get(c *call) (int, any, error) {
	cmd, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	cmd.Kind = sessions.KindInfo
	res, err := s.b.Do(c.ctx, &cmd)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.describe(c, res.Info)
	return http.StatusOK, out, err
}

func (s *rest) set(c *call) (int, any, error) {
	cmd, err := c.session()
	if err != nil {
		return 0, nil, err
	}
	ups, err := decodeData(c)
	if err != nil {
		return 0, nil, err
	}
	if len(ups) > 0 {
		up := cmd
		up.Kind, up.Updates = sessions.KindPUpdate, ups
		if _, err := s.b.Do(c.ctx, &up); err != nil {
			return 0, nil, err
		}
	}
	return s.get(c)
}

func (s *rest) list(c *call, cmd sessions.Command) (int, any, error) {
	res, err := s.b.Do(c.ctx, &cmd)
	if err != nil {
		return 0, nil, err
	}
	out := make([]restSession, 0, len(res.Sessions))
	for i := range res.Sessions {
		d, err := s.describe(c, &res.Sessions[i])
		if errors.Is(err, sessions.ErrNoSession) {
			continue // ended meanwhile
		}
		if err != nil {
			return 0, nil, err
		}
		out = append(out, d)
	}
	return http.StatusOK, map[string]any{"sessions": out}, nil
}

func (s *rest) activity(c *call) (int, any, error) {
	dt, err := seconds(c, "dt", -1)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindActivity, Tenant: c.signer.Tenant(), Seconds: dt})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int64{"activity": res.Int}, nil
}

func (s *rest) soapp(c *call) (int, any, error) {
	dt, err := seconds(c, "dt", -1)
	if err != nil {
		return 0, nil, err
	}
	return s.list(c, sessions.Command{Kind: sessions.KindActive, Tenant: c.signer.Tenant(), Seconds: dt, Limit: 1000})
}

func (s *rest) soid(c *call) (int, any, error) {
	owner := []byte(c.r.PathValue("id"))
	if len(owner) > sessions.MaxOwnerLen {
		return 0, nil, badRequest("id is longer than %d bytes", sessions.MaxOwnerLen)
	}
	return s.list(c, sessions.Command{Kind: sessions.KindList, Tenant: c.signer.Tenant(), Owner: owner})
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
	owner := []byte(c.r.PathValue("id"))
	if len(owner) > sessions.MaxOwnerLen {
		return 0, nil, badRequest("id is longer than %d bytes", sessions.MaxOwnerLen)
	}
	res, err := s.b.Do(c.ctx, &sessions.Command{Kind: sessions.KindEndOwner, Tenant: c.signer.Tenant(), Owner: owner})
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
