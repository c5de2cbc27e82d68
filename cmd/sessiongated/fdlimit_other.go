//go:build !unix

package main

// fileLimit is unknown here: --maxclients is taken as given.
func fileLimit() uint64 { return 0 }
