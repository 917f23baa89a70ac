// Package deptest holds the test that keeps the architecture honest: which
// package may import which third-party client, that parents never import
// their children, and that test kits stay out of the daemon. It has no
// code of its own.
package deptest
