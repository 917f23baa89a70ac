// Command untether bridges Telegram to coding agents that run in Podman
// containers with resource limits.
//
// This package is the only place adapters meet: it reads the config, builds
// the sandbox, the engines and the Telegram transport, and hands them to the
// orchestrator. Cobra is imported here and nowhere else.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// version is stamped at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit codes, the one table of them.
const (
	exitOK        = 0
	exitFailure   = 1 // a runtime failure: Telegram or Podman unusable, state unwritable
	exitConfig    = 2 // bad command line, missing or invalid config
	exitLocked    = 3 // another daemon runs with this config
	exitUnhealthy = 4 // healthcheck, status: the daemon is not running, ready, polling, or at --version
)

// exitError carries the exit code for an error already explained to the user.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	os.Exit(execute(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "untether:", err)
	return exitConfig
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "untether",
		Short:         "Drive coding agents from Telegram, each session in its own limited container",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCommand(), newDoctorCommand(), newImagesCommand(), newServiceCommand(), newPsCommand(),
		newStatusCommand(), newHealthcheckCommand(), newReleaseCommand(), newTestbedCommand(), newSetupCommand())
	return root
}
