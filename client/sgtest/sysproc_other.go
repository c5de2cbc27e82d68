//go:build !linux

package sgtest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
