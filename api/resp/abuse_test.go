package resp

import (
	"bytes"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A 10 MB bulk sent one byte per write must not stall the node, blow up its memory, or recurse:
// other clients keep being served meanwhile.
func TestSlowHugeBulk(t *testing.T) {
	_, addr := startServer(t, Config{})
	slow := dialRaw(t, addr)
	tok := slow.do("SESSIONGATE.START", "k", "600")
	const size = 10 << 20
	head := "*5\r\n$16\r\nSESSIONGATE.PSET\r\n$1\r\nk\r\n$84\r\n" + tok + "\r\n$1\r\nn\r\n$" + itoa(size) + "\r\n"
	if _, err := slow.nc.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	other := dialRaw(t, addr)
	chunk := bytes.Repeat([]byte("x"), 1)
	var peak uint64
	var ms runtime.MemStats
	for sent := 0; sent < size; sent += len(chunk) {
		if _, err := slow.nc.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if sent%(1<<20) == 0 {
			if got := other.do("PING"); got != "+PONG" {
				t.Fatalf("other client stalled: %q", got)
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	slow.nc.Write([]byte("\r\n"))
	if got := slow.line(); got != "-<payload_data> length exceeds the maximum value allowed of 8000000" {
		t.Fatalf("reply %q", got)
	}
	if peak > 200<<20 {
		t.Fatalf("heap peaked at %d MB", peak>>20)
	}
	t.Logf("heap peak while receiving %d MB one byte per write: %d MB", size>>20, peak>>20)
}

// Byte-at-a-time delivery of a whole command works, without rescans or recursion.
func TestOneByteAtATime(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	req := "*2\r\n$4\r\nECHO\r\n$100000\r\n" + strings.Repeat("y", 100000) + "\r\n"
	for i := 0; i < len(req); i++ {
		if _, err := r.nc.Write([]byte{req[i]}); err != nil {
			t.Fatal(err)
		}
	}
	r.line()
	if got := r.line(); len(got) != 100000 {
		t.Fatalf("echo of %d bytes", len(got))
	}
}

func TestHeaderLimits(t *testing.T) {
	_, addr := startServer(t, Config{})
	for _, c := range []struct{ req, want string }{
		{"*2000000000\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"*1\r\n$9999999999\r\n", "-ERR Protocol error: invalid bulk length"},
		{"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length"},
		{"*x\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$'"},
	} {
		r := dialRaw(t, addr)
		r.nc.Write([]byte(c.req))
		if got := r.line(); got != c.want {
			t.Errorf("%q: %q, want %q", c.req, got, c.want)
		}
		r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := r.br.ReadByte(); err != io.EOF {
			t.Errorf("%q: connection not closed (%v)", c.req, err)
		}
	}
	// Inline commands work (telnet).
	r := dialRaw(t, addr)
	r.nc.Write([]byte("PING\r\n"))
	if got := r.line(); got != "+PONG" {
		t.Fatalf("inline: %q", got)
	}
}

// redis-cli, a real client, drives the server (skipped when it is not installed).
func TestRedisCLI(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed (apt-get install redis-tools)")
	}
	_, addr := startServer(t, Config{})
	host, port, _ := strings.Cut(addr, ":")
	cli := func(args ...string) string {
		out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tok := cli("SESSIONGATE.START", "k", "60")
	if cli("SESSIONGATE.PSET", "k", tok, "a", "hello world") != "OK" || cli("SESSIONGATE.PGET", "k", tok, "a") != "hello world" {
		t.Fatal("redis-cli round trip failed")
	}
	if !strings.Contains(cli("INFO"), "sessions:1") {
		t.Fatal("INFO via redis-cli lacks the sessions count")
	}
}

// redis-py, a second client library (skipped when it is not installed).
func TestRedisPy(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import redis").Run(); err != nil {
		t.Skip("redis-py not installed (apt-get install python3-redis)")
	}
	_, addr := startServer(t, Config{})
	host, port, _ := strings.Cut(addr, ":")
	script := `
import redis, sys
r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]))
assert r.ping()
tok = r.execute_command("SESSIONGATE.START", "k", 60)
assert len(tok) == 84, tok
assert r.execute_command("SESSIONGATE.PSET", "k", tok, "n", b"\x00\xffbinary") in (b"OK", True)
assert r.execute_command("SESSIONGATE.PGET", "k", tok, "n") == b"\x00\xffbinary"
try:
    r.execute_command("SESSIONGATE.PGET", "k", tok, "missing")
    raise SystemExit("no error")
except redis.ResponseError as e:
    assert str(e) == "the requested <payload_name> does not exist", str(e)
p = r.pipeline(transaction=False)
for i in range(50):
    p.execute_command("SESSIONGATE.PSET", "k", tok, "i", str(i))
p.execute_command("SESSIONGATE.PGET", "k", tok, "i")
assert p.execute()[-1] == b"49"
print("ok")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("redis-py: %v\n%s", err, out)
	}
}
