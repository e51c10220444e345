//go:build unix

package testenv

import "syscall"

// Pause freezes the agent (SIGSTOP): its port accepts connections but
// nothing answers, as when its host hangs. Resume undoes it.
func (c *Consul) Pause() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused agent.
func (c *Consul) Resume() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGCONT)
	}
}
