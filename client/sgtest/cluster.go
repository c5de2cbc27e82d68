package sgtest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartCluster runs n nodes on 127.0.0.1 that gossip with fast failure detection, and
// returns once every node sees n alive members and no under-replicated partition.
func StartCluster(ctx context.Context, bin string, n int, args ...string) ([]*Node, error) {
	var nodes []*Node
	fail := func(err error) ([]*Node, error) {
		for _, nd := range nodes {
			nd.Close()
		}
		return nil, err
	}
	seed := ""
	for i := 0; i < n; i++ {
		gossip, err := FreeAddr()
		if err != nil {
			return fail(err)
		}
		repl, err := FreeAddr()
		if err != nil {
			return fail(err)
		}
		if seed == "" {
			seed = gossip
		}
		name := fmt.Sprintf("n%d", i+1)
		nd, err := Start(ctx, bin, append([]string{"--cluster-addr", gossip, "--repl-addr", repl,
			"--node-name", name, "--join", seed, "--gossip-profile", "fast",
			"--rejoin-interval", "1s", "--anti-entropy-interval", "2s"}, args...)...)
		if err != nil {
			return fail(err)
		}
		nd.Name = name
		nodes = append(nodes, nd)
	}
	if err := WaitCluster(ctx, nodes, n); err != nil {
		return fail(err)
	}
	return nodes, nil
}

// WaitCluster waits until every live node of nodes sees want alive members and no
// under-replicated partition. Members that died may still be listed, as dead.
func WaitCluster(ctx context.Context, nodes []*Node, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		ok := true
		for _, nd := range nodes {
			if nd.Alive() && !settled(ctx, nd.Addr, want) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster did not settle on %d members: %w", want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func settled(ctx context.Context, addr string, want int) bool {
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DialerRetries: 1, DisableIdentity: true})
	defer rdb.Close()
	members, err := rdb.Do(ctx, "SESSIONGATE.CLUSTER", "MEMBERS").Slice()
	if err != nil {
		return false
	}
	alive := 0
	for _, m := range members {
		if strings.Contains(fmt.Sprint(m), "state alive") {
			alive++
		}
	}
	if alive != want {
		return false
	}
	under, err := rdb.Do(ctx, "SESSIONGATE.CLUSTER", "UNDERREPLICATED").Slice()
	return err == nil && len(under) == 0
}
