package main

import (
	"fmt"
	"log/slog"
)

// reservedFiles is the part of the file limit kept from client connections: the listeners
// (RESP, TLS, HTTP, replication, gossip, pprof), replication links (a few per peer), gossip
// exchanges, HTTP connections, the runtime's poller and the files the process opens.
// Redis keeps 32 for a lone server; a cluster member needs more.
const reservedFiles = 128

// clampMaxClients caps maxClients at the file limit less reservedFiles, logging when it
// does, so that clients alone cannot exhaust the descriptors the node needs to work. A limit
// too small to leave any client a descriptor is an error.
func clampMaxClients(maxClients int, limit uint64, log *slog.Logger) (int, error) {
	if limit == 0 || limit >= uint64(maxClients)+reservedFiles {
		return maxClients, nil
	}
	if limit <= reservedFiles {
		return 0, fmt.Errorf("the file limit (ulimit -n) is %d: at least %d are needed, %d kept for the node itself", limit, reservedFiles+1, reservedFiles)
	}
	capped := int(limit - reservedFiles)
	log.Warn("--maxclients lowered to fit the file limit", "maxclients", maxClients, "now", capped, "file_limit", limit, "reserved", reservedFiles)
	return capped, nil
}
