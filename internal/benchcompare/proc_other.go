//go:build !linux

package benchcompare

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
