// Package atstart applies residency.Executable when the program starts,
// before the other packages' initialisation (the runtime's, the
// dependencies' tables and registries) maps most of the executable with
// fault-around. Main packages import it for that side effect, first:
//
//	import _ "github.com/vigie-monitoring/vigie/internal/residency/atstart"
//
// Go initialises a package as soon as its dependencies are and it comes
// first by import path among those ready, and this one depends on little
// of the standard library: in vigie's programs it runs before most of the
// initialisation (GODEBUG=inittrace=1 shows where).
package atstart

import "github.com/vigie-monitoring/vigie/internal/residency"

func init() {
	// Registered for the process's life: the descriptor is never closed.
	_ = residency.Executable()
}
