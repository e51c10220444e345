// Package doccheck holds the tests that keep README.md true: every flag of
// both binaries and every metric they can emit must be documented there.
package doccheck
