// Command saveimage builds the offline test engine image
// (engines/enginetest) under a tag of the vmtest's own, so that other test
// runs rebuilding the shared tag do not race it, and writes it with
// `podman save` to a file the vmtest guest loads.
//
//	go run ./vmtest/saveimage -out payload/testengine.tar
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/untether-go/untether/engines/enginetest"
)

// Tag is the image's name, inside the guest too.
const Tag = "localhost/untether-testengine-vmtest:latest"

func main() {
	out := flag.String("out", "", "the archive to write")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "saveimage: -out is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := enginetest.BuildImage(ctx, Tag, nil); err != nil {
		fmt.Fprintln(os.Stderr, "saveimage:", err)
		os.Exit(1)
	}
	_ = os.Remove(*out)
	cmd := exec.CommandContext(ctx, "podman", "save", "--format", "oci-archive", "-o", *out, Tag)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "saveimage: podman save:", err)
		os.Exit(1)
	}
}
