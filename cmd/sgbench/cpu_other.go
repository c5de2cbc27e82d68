//go:build !unix

package main

import "time"

// processCPU is unknown here; the report then shows no client CPU.
func processCPU() time.Duration { return 0 }
