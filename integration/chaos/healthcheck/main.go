// Command sg-healthcheck is the container health check for the sessiongated image, which is
// built FROM scratch and so has no shell or redis-cli: it sends PING to a node over RESP and
// exits 0 when the node answers PONG, 1 otherwise.
//
//	sg-healthcheck [HOST:PORT]   (default 127.0.0.1:6380)
//
// With SESSIONGATE_REQUIREPASS set (the container's own environment) it sends AUTH first.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// timeout bounds the whole check; docker kills a check that runs past its own --timeout anyway.
const timeout = 2 * time.Second

func main() {
	addr := "127.0.0.1:6380"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := ping(ctx, addr, os.Getenv("SESSIONGATE_REQUIREPASS")); err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		os.Exit(1)
	}
}

// errUnexpected is an answer that is not the one a healthy node gives.
var errUnexpected = errors.New("unexpected reply")

// ping dials addr, authenticates when pass is set, and expects +PONG.
func ping(ctx context.Context, addr, pass string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	if pass != "" {
		if err := roundTrip(conn, r, "+OK", "AUTH", pass); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	return roundTrip(conn, r, "+PONG", "PING")
}

// roundTrip sends one command as a RESP array and compares the first reply line with want.
func roundTrip(conn net.Conn, r *bufio.Reader, want string, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got := strings.TrimRight(line, "\r\n"); got != want {
		return fmt.Errorf("%w: %q", errUnexpected, got)
	}
	return nil
}
