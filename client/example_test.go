package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sessiongate/sessiongate/client"
)

// nodeAddr is where the examples find a node: $SESSIONGATE_ADDR, which go test sets to a
// node it starts, or sessiongated's default address.
func nodeAddr() string {
	if a := os.Getenv("SESSIONGATE_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6380"
}

func Example() {
	ctx := context.Background()
	c, err := client.New(client.Config{
		Addrs:   []string{nodeAddr()}, // list every node; the client fails over between them
		SignKey: []byte("example-sign-key"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// On login: a session for user42 that lasts a day, or 30 minutes unused.
	tok, err := c.Create(ctx, 24*time.Hour, client.CreateOptions{
		Owner: "user42", Idle: 30 * time.Minute, IP: "203.0.113.9", UA: "Firefox/130",
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.PSet(ctx, tok, "cart", []byte(`{"items":3}`)); err != nil {
		log.Fatal(err)
	}

	// On each request.
	cart, err := c.PGet(ctx, tok, "cart")
	if err != nil {
		log.Fatal(err)
	}
	info, err := c.Info(ctx, tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s owner=%s ip=%s idle timeout=%v\n", cart, info.Owner, info.IP, info.IdleTimeout)

	// On logout.
	if err := c.End(ctx, tok); err != nil {
		log.Fatal(err)
	}
	_, err = c.PGet(ctx, tok, "cart")
	fmt.Println(errors.Is(err, client.ErrNoSession))
	// Output:
	// {"items":3} owner=user42 ip=203.0.113.9 idle timeout=30m0s
	// true
}

// The six commands of the original module, as its Go driver used them.
func Example_originalCommands() {
	ctx := context.Background()
	c, err := client.New(client.Config{Addrs: []string{nodeAddr()}, SignKey: []byte("qwerty")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	tok, err := c.Start(ctx, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(tok), tok[:3])
	_ = c.PSet(ctx, tok, "user", []byte(`{"name":"Bruce"}`))
	user, _ := c.PGet(ctx, tok, "user")
	fmt.Println(string(user))
	_ = c.Expire(ctx, tok, 2*time.Hour)
	_ = c.PDel(ctx, tok, "user")
	_, err = c.PGet(ctx, tok, "user")
	fmt.Println(errors.Is(err, client.ErrNoPayload))
	_ = c.End(ctx, tok)
	// Output:
	// 84 v1.
	// {"name":"Bruce"}
	// true
}

// PUpdate changes several payloads at once: all of them, or none.
func ExampleClient_PUpdate() {
	ctx := context.Background()
	c, err := client.New(client.Config{Addrs: []string{nodeAddr()}, SignKey: []byte("pupdate-example")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	tok, _ := c.Start(ctx, time.Hour)
	_ = c.PUpdate(ctx, tok, client.Set("name", []byte("Bruce")), client.Set("unread_msgs", []byte("3")))

	err = c.PUpdate(ctx, tok,
		client.Set("job", []byte("gold records")),
		client.Del("unread_msgs"),
		client.Set("", []byte("a bad name spoils the whole update")))
	fmt.Println(errors.Is(err, client.ErrBadPayload))

	_ = c.PUpdate(ctx, tok, client.Set("job", []byte("gold records")), client.Del("unread_msgs"))
	all, _ := c.PGetAll(ctx, tok)
	fmt.Println(len(all), string(all["name"]), string(all["job"]))
	// Output:
	// true
	// 2 Bruce gold records
}

// Rotate after a privilege change, so that a token captured before it is worthless.
func ExampleClient_Rotate() {
	ctx := context.Background()
	c, err := client.New(client.Config{Addrs: []string{nodeAddr()}, SignKey: []byte("rotate-example")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	old, _ := c.Create(ctx, time.Hour, client.CreateOptions{Owner: "admin"})
	_ = c.PSet(ctx, old, "role", []byte("user"))

	tok, err := c.Rotate(ctx, old)
	if err != nil {
		log.Fatal(err)
	}
	_ = c.PSet(ctx, tok, "role", []byte("admin"))
	_, err = c.Info(ctx, old)
	fmt.Println("old token:", errors.Is(err, client.ErrNoSession))
	info, _ := c.Info(ctx, tok)
	fmt.Println("new token owner:", info.Owner)
	// Output:
	// old token: true
	// new token owner: admin
}

// List a user's devices and log them out everywhere.
func ExampleClient_EndOwner() {
	ctx := context.Background()
	c, err := client.New(client.Config{Addrs: []string{nodeAddr()}, SignKey: []byte("endowner-example")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, ua := range []string{"laptop", "phone", "tablet"} {
		if _, err := c.Create(ctx, time.Hour, client.CreateOptions{Owner: "user7", UA: ua}); err != nil {
			log.Fatal(err)
		}
	}
	devices, _ := c.List(ctx, "user7")
	for _, d := range devices {
		fmt.Println(d.UA)
	}
	n, _ := c.EndOwner(ctx, "user7")
	fmt.Println("ended", n)
	// Output:
	// laptop
	// phone
	// tablet
	// ended 3
}

// At most two sessions per user: the third login ends the oldest.
func ExampleCreateOptions_maxSessions() {
	ctx := context.Background()
	c, err := client.New(client.Config{Addrs: []string{nodeAddr()}, SignKey: []byte("max-example")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	defer c.EndOwner(ctx, "user9")
	limit := client.CreateOptions{Owner: "user9", MaxSessions: 2}
	first, _ := c.Create(ctx, time.Hour, limit)
	_, _ = c.Create(ctx, time.Hour, limit)
	_, err = c.Create(ctx, time.Hour, limit)
	fmt.Println(errors.Is(err, client.ErrOwnerLimit))

	limit.Evict = true
	_, _ = c.Create(ctx, time.Hour, limit)
	_, err = c.TTL(ctx, first)
	fmt.Println(errors.Is(err, client.ErrNoSession))
	// Output:
	// true
	// true
}
