// Package deptest holds the tests that keep the architecture honest: which
// package may import which third-party client, the import rules each
// package's doc states, that parents never import their children, that test
// kits stay out of the daemon, which modules (and versions) the daemon's
// binary is built from (testdata/modules.txt, rewritten by -update), and
// that no Go file reaches for a path outside the module. It has no code of
// its own.
package deptest
