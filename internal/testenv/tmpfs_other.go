//go:build !linux

package testenv

import "testing"

// Tmpfs needs Linux: elsewhere the test is skipped loudly (failed in CI).
func Tmpfs(t testing.TB, size int) string {
	t.Helper()
	Unavailable(t, "mounting a tmpfs needs Linux")
	return ""
}

// FillUp needs Tmpfs.
func FillUp(t testing.TB, dir string) (free func()) {
	t.Helper()
	Unavailable(t, "filling a filesystem needs Linux")
	return func() {}
}
