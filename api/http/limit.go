package httpapi

import (
	"net"
	"sync"
	"time"
)

// refusal is the whole answer to a connection past the cap.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
	"Connection: close\r\nContent-Length: 37\r\n\r\n{\"error\":\"too many HTTP connections\"}"

// limitListener caps the connections open at once. One past the cap is answered 503 and
// closed at once rather than left in the accept queue: it holds no goroutine and no file
// descriptor beyond the write, and its client learns why. Accept errors pass through
// unchanged, so http.Server's retry with backoff still applies to EMFILE and the like.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, slots: l.slots}, nil
		default:
			// A fresh socket's send buffer is empty: the write does not wait for the client.
			c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			c.Write([]byte(refusal))
			c.Close()
		}
	}
}

// limitConn gives its slot back when it is closed, once however often Close is called.
type limitConn struct {
	net.Conn
	slots chan struct{}
	once  sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.slots })
	return err
}
