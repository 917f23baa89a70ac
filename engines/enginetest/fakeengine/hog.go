package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"
)

// maxHogMiB caps fake:hog, so that a typo cannot ask for a host's memory.
const maxHogMiB = 64 << 10

// hogHold is how long fake:hog holds its memory before the run goes on:
// long enough for a sampler of the container's usage to see it.
const hogHold = 2 * time.Second

func parseHog(value string, hasValue bool, dst *int) error {
	if !hasValue {
		return fmt.Errorf("needs a size in MiB (hog=N)")
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 || n > maxHogMiB {
		return fmt.Errorf("size %q is not in 1..%d MiB", value, maxHogMiB)
	}
	*dst = n
	return nil
}

// hog allocates mib MiB, writes to every page of it so that it is really
// used, holds it for hogHold and lets it go. It returns false when ctx
// ended meanwhile.
func hog(ctx context.Context, mib int, stderr io.Writer) bool {
	fmt.Fprintf(stderr, "fakeengine: holding %d MiB\n", mib)
	page := os.Getpagesize()
	mem := make([]byte, mib<<20)
	for i := 0; i < len(mem); i += page {
		mem[i] = 1
	}
	ok := wait(ctx, hogHold)
	runtime.KeepAlive(mem)
	return ok
}
