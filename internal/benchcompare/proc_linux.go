package benchcompare

import "syscall"

// childAttr makes the exporters die with the harness, so that an
// interrupted comparison leaves nothing running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
