package acp_test

import (
	"testing"

	"github.com/untether-go/untether/engines/enginetest/conformance"
)

// TestImports keeps the package pure: the standard library and engines only.
func TestImports(t *testing.T) {
	conformance.Imports(t, "github.com/untether-go/untether/engines")
}
