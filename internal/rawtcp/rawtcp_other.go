//go:build !linux

package rawtcp

import (
	"io"
	"net"
)

// Reader returns nc: raw calls are implemented for Linux only.
func Reader(nc net.Conn) io.Reader { return nc }

// Writer returns nc: raw calls are implemented for Linux only.
func Writer(nc net.Conn) io.Writer { return nc }
