package resp

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestClusterLocate(t *testing.T) {
	_, addr := startServer(t, Config{})
	c := newGoRedis(t, addr, 2)
	ctx := context.Background()
	tok, err := c.Do(ctx, "SESSIONGATE.START", "k1", 600).Text()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "SESSIONGATE.PSET", "k1", tok, "a", "1").Err(); err != nil {
		t.Fatal(err)
	}
	locate := func(key, token string) (string, error) {
		res, err := c.Do(ctx, "SESSIONGATE.CLUSTER", "LOCATE", key, token).Slice()
		return fmt.Sprint(res), err
	}
	got, err := locate("k1", tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node local", "rank 0", "state live", "payloads 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("LOCATE of a live session: %s, lacks %q", got, want)
		}
	}
	if _, err := locate("k2", tok); err == nil || err.Error() != errSignature {
		t.Errorf("LOCATE with another key: %v, want %q", err, errSignature)
	}
	if _, err := locate("k1", "nope"); err == nil || err.Error() != errTokenFormat {
		t.Errorf("LOCATE of a malformed token: %v", err)
	}
	if err := c.Do(ctx, "SESSIONGATE.CLUSTER", "LOCATE", "k1").Err(); err == nil || !strings.Contains(err.Error(), "wrong number of arguments") {
		t.Errorf("LOCATE without a token: %v", err)
	}
	if err := c.Do(ctx, "SESSIONGATE.END", "k1", tok).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := locate("k1", tok); err != nil || !strings.Contains(got, "state ended") {
		t.Errorf("LOCATE of an ended session: %s %v", got, err)
	}
}
