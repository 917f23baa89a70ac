package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/untether-go/untether/orchestrator"
	"github.com/untether-go/untether/orchestrator/config"
	"github.com/untether-go/untether/sandbox"
	"github.com/untether-go/untether/sandbox/podman"
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
	box, err := newSandbox(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return &exitError{exitConfig, err}
	}
	list, err := box.Containers(ctx, cfg.Instance)
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("untether: %w", err)}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tPROJECT\tENGINE\tRUN\tSTATE\tAGE\tMEMORY\tCPU")
	for _, c := range list {
		mem := "-"
		if c.MemoryBytes > 0 {
			mem = config.FormatSize(c.MemoryBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\n", c.Name, c.Labels[sandbox.LabelProject],
			c.Labels[sandbox.LabelEngine], c.Labels[sandbox.LabelRun], c.State,
			time.Since(c.Created).Round(time.Second), mem, c.CPUPercent)
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintf(out, "no runs of instance %s\n", cfg.Instance)
	}
	return nil
}

// reconcile removes the containers this instance left behind that no
// restored run carries on in (taken holds the restored run ids), and tells
// the chats of those that had not ended. Other instances' containers
// are never touched.
func reconcile(ctx context.Context, box *podman.Runner, instance string, chat orchestrator.Chat, taken map[string]bool, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	list, err := box.Containers(ctx, instance)
	if err != nil {
		log.Warn("list containers left from before", "err", err)
		return
	}
	for _, c := range list {
		if taken[c.Labels[sandbox.LabelRun]] {
			continue // a restored run carries on in it
		}
		if err := box.RemoveContainer(ctx, c.ID); err != nil {
			log.Warn("remove a container left from before", "container", c.Name, "err", err)
			continue
		}
		log.Info("removed a container left from before", "container", c.Name, "run", c.Labels[sandbox.LabelRun], "state", c.State)
		id, err := strconv.ParseInt(c.Labels[sandbox.LabelChat], 10, 64)
		if err != nil || id == 0 || c.State == "exited" {
			continue // an ended run's container: its answer was delivered
		}
		text := fmt.Sprintf("The bridge restarted while a run was in progress (run %s); it was stopped. Send the message again.", c.Labels[sandbox.LabelRun])
		if _, err := chat.Send(ctx, orchestrator.Outgoing{ChatID: id, Text: orchestrator.Text{S: text}}); err != nil {
			log.Warn("tell a chat its run was stopped", "chat", id, "err", err)
		}
	}
}
