package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of /proc's CPU times: fixed at 100 by the Linux ABI, whatever the
// kernel's own tick rate.
const userHZ = 100

// serverCPU is the CPU time (user plus system) process pid has used so far, from
// /proc/PID/stat: the load generator's view of a server on the same machine.
func serverCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("server process %d: %w", pid, err)
	}
	d, ok := statCPU(b)
	if !ok {
		return 0, fmt.Errorf("server process %d: unexpected /proc stat line", pid)
	}
	return d, nil
}

// statCPU reads utime plus stime from a /proc/PID/stat line.
func statCPU(b []byte) (time.Duration, bool) {
	// The command name in parentheses may hold spaces and parentheses itself: the fields
	// that follow start after the last ')'. utime and stime are fields 14 and 15 of the line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || utime < 0 || stime < 0 {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / userHZ), true
}
