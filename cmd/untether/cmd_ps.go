package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/sandbox"
)

type psOptions struct {
	configPath string
}

func (o *psOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.configPath, "config", "", "config file (default $"+config.EnvConfigPath+", else ~/.untether/untether.toml)")
}

func newPsCommand() *cobra.Command {
	var opts psOptions
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List this instance's run containers: project, engine, age, memory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPs(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runPs(ctx context.Context, opts psOptions, out io.Writer) error {
	cfg, err := loadConfig(opts.configPath, out)
	if err != nil {
		return err
	}
	var box interface {
		Containers(ctx context.Context, instance string) ([]sandbox.Container, error)
	}
	if len(cfg.Sandbox.Hosts) > 0 {
		pool, err := newPool(cfg, "", slog.New(slog.DiscardHandler))
		if err != nil {
			return &exitError{exitConfig, err}
		}
		defer pool.Close()
		defer func() {
			// The list is of the hosts that answered: say which did not.
			for _, h := range pool.States() {
				if h.Down {
					fmt.Fprintf(out, "host %s did not answer: its runs are not listed (%s)\n", h.Name, h.Why)
				}
			}
		}()
		box = pool
	} else {
		r, err := newSandbox(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			return &exitError{exitConfig, err}
		}
		box = r
	}
	list, err := box.Containers(ctx, cfg.Instance)
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tHOST\tPROJECT\tENGINE\tRUN\tSTATE\tAGE\tMEMORY\tCPU")
	for _, c := range list {
		mem := "-"
		if c.MemoryBytes > 0 {
			mem = config.FormatSize(c.MemoryBytes)
		}
		host := c.Host
		if host == "" {
			host = config.LocalHost
		}
		run := c.Labels[sandbox.LabelRun]
		switch {
		case c.Warm:
			run = "(warm)" // made ahead, waiting for a run
		case run == "":
			// A warm container a run claimed: its name is the run's.
			run = strings.TrimPrefix(c.Name, "untether-"+cfg.Instance+"-")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\n", c.Name, host, c.Labels[sandbox.LabelProject],
			c.Labels[sandbox.LabelEngine], run, c.State,
			time.Since(c.Created).Round(time.Second), mem, c.CPUPercent)
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintf(out, "no runs of instance %s\n", cfg.Instance)
	}
	return nil
}
