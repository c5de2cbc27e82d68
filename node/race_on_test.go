//go:build race

package node

// raceBuild: the race detector slows a test process of several nodes by 5-10x, and on some
// machines it stalls for a second or more at a time (page faults of its shadow memory).
const raceBuild = true
