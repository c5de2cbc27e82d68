package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/sessiongate/sessiongate/clusterkey"
	"github.com/sessiongate/sessiongate/membership"
	"github.com/sessiongate/sessiongate/quorum"
)

// ClusterConfig makes a node a cluster member. Zero fields take the documented defaults.
type ClusterConfig struct {
	// Name is the node's stable id, independent of its address. Default: the hostname.
	Name string
	// BindAddr is the gossip address (memberlist, TCP and UDP), HOST:PORT. Required.
	BindAddr string
	// Advertise is the gossip address peers use (for containers and NAT). Default BindAddr.
	Advertise string
	// ReplAddr is where the replication protocol listens. Default: BindAddr's host, port+1.
	ReplAddr string
	// ReplAdvertise is the replication address peers use. Default: Advertise's host, ReplAddr's port.
	ReplAdvertise string
	// RESPAddr is the client address, shown to operators in the cluster views.
	RESPAddr string
	// Join lists seed gossip addresses. Seeds not up yet are retried every RejoinInterval.
	Join []string
	// RestartWait is how long Join waits, when the node loaded data from its data directory,
	// for the members of its last view to be back: without them it would answer for their
	// partitions with only its own copies. Past it the node serves without them. Default 30s.
	RestartWait time.Duration
	// Replicas is the number of copies of each session, capped at the member count. Default 3.
	Replicas int
	// Partitions is fixed for the cluster's life; a node with another value cannot join. Default 256.
	Partitions int
	// WriteAcks is the write-acknowledgement policy. Default majority.
	WriteAcks quorum.Acks
	// Keys are the cluster secrets, newest first. Gossip is encrypted with keys derived from
	// them (and refused when none opens it), and replication links authenticate both ends
	// and are encrypted with them. Default none.
	Keys []clusterkey.Key
	// PeerTLS, if set, runs replication links over mutual TLS; without Keys, a gossip member
	// counts only once its replication port has shown a certificate under its name.
	PeerTLS *PeerTLS
	// Insecure lets a node with neither Keys nor PeerTLS bind addresses that are not
	// loopback (protected mode refuses that otherwise).
	Insecure bool
	// Transition moves a running cluster without a secret to Keys: the node also accepts
	// links and gossip without the secret, and encrypts gossip only once every member holds
	// it. A rolling restart with it, then one without it, secures a cluster without downtime.
	Transition bool
	// RejoinInterval is how often known peers that are not members are re-joined, so a
	// partition longer than memberlist's dead-node timeout still heals. Default 5s.
	RejoinInterval time.Duration
	// AntiEntropyInterval is how often a primary compares digests with its backups. Default 10s.
	AntiEntropyInterval time.Duration
	// RPCTimeout bounds one replication or forwarding call. Default 2s.
	RPCTimeout time.Duration
	// DropAfter is how long this node keeps its copy of a partition it no longer holds (the new
	// holders pull it meanwhile). Default 1 minute.
	DropAfter time.Duration
	// CommandTimeout bounds one client command's trip through the cluster; past it the client
	// hears TRYAGAIN. Default 5s.
	CommandTimeout time.Duration
	// StallThreshold is how long the process may go without running before it assumes the
	// others took over its partitions meanwhile and re-syncs them (checkStall). Default 1s.
	StallThreshold time.Duration
	// HandoffDelay is how long a node that stopped being a partition's primary waits before
	// pushing the partition to the new primary, so that commands it started as primary have
	// finished. Default 250ms.
	HandoffDelay time.Duration
	// ReadLease is how long a backup may answer reads from its own copy after its primary
	// vouched for it (package replica); a write waits up to this long for a backup holding a lease
	// that stops answering. Default 1s; negative: every read goes to the primary.
	ReadLease time.Duration
	// ReplicaReadDelay is how long after a view change a backup waits before it asks for
	// read leases, while copies from the previous holders may still be on their way.
	// Default 2 minutes.
	ReplicaReadDelay time.Duration
	// ClockSkew is how far apart the nodes' wall clocks may be. A forwarded command that
	// reaches its primary more than this after its sender stopped waiting is refused rather
	// than run late (see refused). Default 100ms; negative: never refused.
	ClockSkew time.Duration
	// Memberlist, if set, adjusts the memberlist configuration (timers, transport) before start.
	Memberlist func(*memberlist.Config)
	// Dial, if set, dials replication peers (tests inject faults here).
	Dial func(network, addr string) (net.Conn, error)
}

// ErrIncompatible is returned by Join when the cluster was configured with a different
// number of partitions.
var ErrIncompatible = membership.ErrIncompatible

func (c *ClusterConfig) setDefaults() error {
	if c.BindAddr == "" {
		return errors.New("cluster: BindAddr is required")
	}
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("cluster: no node name and no hostname: %w", err)
		}
		c.Name = h
	}
	if c.Advertise == "" {
		c.Advertise = c.BindAddr
	}
	host, port, err := net.SplitHostPort(c.BindAddr)
	if err != nil {
		return fmt.Errorf("cluster: bad cluster address %q: %w", c.BindAddr, err)
	}
	if c.ReplAddr == "" {
		p, _ := strconv.Atoi(port)
		c.ReplAddr = net.JoinHostPort(host, strconv.Itoa(p+1))
	}
	if c.ReplAdvertise == "" {
		ahost, _, err := net.SplitHostPort(c.Advertise)
		if err != nil {
			return fmt.Errorf("cluster: bad advertise address %q: %w", c.Advertise, err)
		}
		_, rport, err := net.SplitHostPort(c.ReplAddr)
		if err != nil {
			return fmt.Errorf("cluster: bad replication address %q: %w", c.ReplAddr, err)
		}
		c.ReplAdvertise = net.JoinHostPort(ahost, rport)
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.Partitions <= 0 {
		c.Partitions = 256
	}
	if c.RejoinInterval <= 0 {
		c.RejoinInterval = 5 * time.Second
	}
	if c.RestartWait <= 0 {
		c.RestartWait = 30 * time.Second
	}
	if c.AntiEntropyInterval <= 0 {
		c.AntiEntropyInterval = 10 * time.Second
	}
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = 2 * time.Second
	}
	if c.DropAfter <= 0 {
		c.DropAfter = time.Minute
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 5 * time.Second
	}
	if c.StallThreshold <= 0 {
		c.StallThreshold = time.Second
	}
	if c.HandoffDelay <= 0 {
		c.HandoffDelay = 250 * time.Millisecond
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = 100 * time.Millisecond
	}
	if c.ReadLease == 0 {
		c.ReadLease = time.Second
	}
	if c.ReplicaReadDelay <= 0 {
		c.ReplicaReadDelay = repairWindow
	}
	return nil
}
