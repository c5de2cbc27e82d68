package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// dockerTimeout bounds one docker CLI call; a stuck daemon must not hang the run.
const dockerTimeout = 90 * time.Second

// respPort is the container port each node serves RESP on.
const respPort = "6380/tcp"

// docker drives the Docker CLI and the compose project the cluster runs in.
type docker struct {
	compose []string // the compose command with its -f and -p arguments
}

// newDocker finds a compose command ("docker compose" or "docker-compose") for file and
// project (empty: compose's default project name).
func newDocker(ctx context.Context, file, project string) (*docker, error) {
	var base []string
	switch {
	case exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil:
		base = []string{"docker", "compose"}
	case exec.CommandContext(ctx, "docker-compose", "version").Run() == nil:
		base = []string{"docker-compose"}
	default:
		return nil, errors.New("neither 'docker compose' nor 'docker-compose' works")
	}
	base = append(base, "-f", file)
	if project != "" {
		base = append(base, "-p", project)
	}
	return &docker{compose: base}, nil
}

// run runs a command and returns its standard output; errors carry its standard error.
func run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (d *docker) composeRun(ctx context.Context, args ...string) (string, error) {
	return run(ctx, append(append([]string(nil), d.compose...), args...)...)
}

// container is what the nemesis needs to know about one node's container.
type container struct {
	service string
	id      string
	network string   // the compose network the node gossips on
	ip      string   // its fixed address there
	aliases []string // its DNS names there
	addr    string   // the RESP port as published on the host
	data    bool     // it keeps a data directory (SESSIONGATE_DATA_DIR is set)
}

// containers lists the project's services with their containers, sorted by service name.
func (d *docker) containers(ctx context.Context) ([]container, error) {
	out, err := d.composeRun(ctx, "config", "--services")
	if err != nil {
		return nil, err
	}
	services := strings.Fields(out)
	sort.Strings(services)
	if len(services) == 0 {
		return nil, errors.New("the compose file has no services")
	}
	var cs []container
	for _, s := range services {
		out, err := d.composeRun(ctx, "ps", "-q", s)
		if err != nil {
			return nil, err
		}
		ids := strings.Fields(out)
		if len(ids) != 1 {
			return nil, fmt.Errorf("service %s has %d containers, want 1 (is the project up?)", s, len(ids))
		}
		raw, err := run(ctx, "docker", "inspect", ids[0])
		if err != nil {
			return nil, err
		}
		c, err := parseInspect([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", s, err)
		}
		c.service = s
		cs = append(cs, c)
	}
	return cs, nil
}

// inspectJSON is the part of `docker inspect` we read.
type inspectJSON struct {
	ID     string `json:"Id"`
	Config struct {
		Env []string
	}
	State struct {
		Running, Paused bool
	}
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress  string
			IPAMConfig *struct{ IPv4Address string }
			Aliases    []string
		}
		Ports map[string][]struct{ HostIp, HostPort string }
	}
}

// parseInspect reads one container from `docker inspect` output. The node must be on
// exactly one network, with a fixed address (so that it keeps it when reconnected), and
// publish its RESP port.
func parseInspect(raw []byte) (container, error) {
	var all []inspectJSON
	if err := json.Unmarshal(raw, &all); err != nil {
		return container{}, fmt.Errorf("docker inspect output: %w", err)
	}
	if len(all) != 1 {
		return container{}, fmt.Errorf("docker inspect listed %d containers", len(all))
	}
	in := all[0]
	c := container{id: in.ID}
	for _, e := range in.Config.Env {
		if v, ok := strings.CutPrefix(e, "SESSIONGATE_DATA_DIR="); ok && v != "" {
			c.data = true
		}
	}
	if len(in.NetworkSettings.Networks) != 1 {
		return c, fmt.Errorf("container is on %d networks, want 1", len(in.NetworkSettings.Networks))
	}
	for name, n := range in.NetworkSettings.Networks {
		c.network, c.aliases = name, n.Aliases
		if n.IPAMConfig != nil {
			c.ip = n.IPAMConfig.IPv4Address
		}
	}
	if c.ip == "" {
		return c, errors.New("container has no fixed IPv4 address (ipv4_address in the compose file)")
	}
	binds := in.NetworkSettings.Ports[respPort]
	if len(binds) == 0 {
		return c, fmt.Errorf("container does not publish %s", respPort)
	}
	host := binds[0].HostIp
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c.addr = net.JoinHostPort(host, binds[0].HostPort)
	return c, nil
}

// state reports whether the container runs, is paused, and is attached to its network.
func (d *docker) state(ctx context.Context, c *container) (running, paused, attached bool, err error) {
	raw, err := run(ctx, "docker", "inspect", c.id)
	if err != nil {
		return false, false, false, err
	}
	var all []inspectJSON
	if err := json.Unmarshal([]byte(raw), &all); err != nil || len(all) != 1 {
		return false, false, false, fmt.Errorf("docker inspect %s: unreadable output", c.service)
	}
	_, attached = all[0].NetworkSettings.Networks[c.network]
	return all[0].State.Running, all[0].State.Paused, attached, nil
}

func (d *docker) kill(ctx context.Context, c *container) error {
	_, err := run(ctx, "docker", "kill", "--signal", "KILL", c.id)
	return err
}

func (d *docker) start(ctx context.Context, c *container) error {
	_, err := run(ctx, "docker", "start", c.id)
	return err
}

// restart stops the node with SIGTERM (it hands its partitions off first) and starts it.
func (d *docker) restart(ctx context.Context, c *container) error {
	_, err := run(ctx, "docker", "restart", "--time", "30", c.id)
	return err
}

func (d *docker) pause(ctx context.Context, c *container) error {
	_, err := run(ctx, "docker", "pause", c.id)
	return err
}

func (d *docker) unpause(ctx context.Context, c *container) error {
	_, err := run(ctx, "docker", "unpause", c.id)
	return err
}

// disconnect cuts the node off its network: from its peers, and from clients too, since the
// published port forwards over that network.
func (d *docker) disconnect(ctx context.Context, c *container) error {
	_, err := run(ctx, "docker", "network", "disconnect", "--force", c.network, c.id)
	return err
}

// connect puts the node back with the address it advertises and its DNS names.
func (d *docker) connect(ctx context.Context, c *container) error {
	args := []string{"docker", "network", "connect", "--ip", c.ip}
	for _, a := range c.aliases {
		if !strings.HasPrefix(c.id, a) { // the short container id is added by docker itself
			args = append(args, "--alias", a)
		}
	}
	_, err := run(ctx, append(args, c.network, c.id)...)
	return err
}

// heal brings a node back whatever was done to it: unpaused, running and attached.
func (d *docker) heal(ctx context.Context, c *container) error {
	running, paused, attached, err := d.state(ctx, c)
	if err != nil {
		return err
	}
	if paused {
		if err := d.unpause(ctx, c); err != nil {
			return err
		}
	}
	if !running {
		if err := d.start(ctx, c); err != nil {
			return err
		}
	}
	if !attached {
		return d.connect(ctx, c)
	}
	return nil
}
