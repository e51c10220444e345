// Package doccheck holds the tests that keep README.md and docs/ true:
// README opens with the two commands; every flag of both binaries, every
// metric they emit and every configuration key their parsers accept is
// documented on its page; every relative link and anchor resolves; every
// YAML example loads with the real loader of its kind. See
// docs/development.md, "Documentation".
package doccheck
