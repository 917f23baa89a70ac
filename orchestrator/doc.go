// Package orchestrator is the daemon's core: it takes chat messages, checks
// the allowlist, routes each chat to a project and an engine, keeps one
// session per conversation, queues runs per session, runs them in the
// sandbox and turns their events into progress and final messages.
//
// It declares the small interfaces it consumes (Chat, Files, Sandbox,
// SessionStore, ChatStore, RunStore, Reattacher, ContainerLister,
// Transcriber, Workspaces, Timers, CostLedger, UsageReader, Warmer, and
// Drafter, which a Chat may add) and
// imports no adapter: no telego, no Podman client, no TOML, no cobra.
// Only cmd/untether wires adapters to it. Its subpackages (config, ledger,
// render, schedule, state, telegram, voice, webhook) are adapters and leaves; this package imports
// none of them. It uses two libraries: internal/projectfs for the files it
// moves in and out of project folders, and internal/units.
//
// # Parts
//
// The Orchestrator is a facade (orchestrator.go): New wires the parts,
// Handle passes each message to the part whose job it is. Each part is a
// type of its own, with its own lock where it keeps state:
//
//   - api.go: the vocabulary (Message, Outgoing, Chat, Sandbox, the stores,
//     Options).
//   - intake.go: whether a message is for this bridge at all (duplicates,
//     allowlist, another bot's command, missed while offline).
//   - router.go: message → project, engine, branch, session and queue
//     keys, resume token from a replied-to answer; /<engine>, /<project>
//     and @<branch> directives, and the /ctx binding.
//   - sessions.go: the stored resume tokens and /new.
//   - commands.go: the built-in commands and button presses;
//     commands_asks.go the ones about approvals, commands_work.go those
//     about where and when runs work (/ctx, /continue, /at, /listen).
//   - supervisor.go: the runs in flight: FIFO queue per session, one
//     goroutine per run, cancel, counts. slots.go caps the runs at once.
//   - run.go: a run and its state machine (queued → waiting → starting →
//     running → delivering → done, or held / detached); run_spec.go builds
//     its container, run_progress.go edits its progress message,
//     run_draft.go shows a private run's answer as a draft while it is
//     written (and takes the user's Stop under it), run_deliver.go sends
//     its final answer, run_stall.go says on its progress message when
//     its engine is silent; hosts.go shows a run's wait for a sandbox host
//     (sandbox.Placement) and refuses the bridge's file features for
//     projects whose runs may go to remote hosts.
//   - runbook.go: the persisted run record (RunRecord); every change of a
//     recorded field goes through the runbook, which writes it.
//   - warm.go: containers made ahead for each project (warm start).
//   - view_progress.go, view_final.go, view_notice.go, view_usage.go
//     (the resource footer and stall notice): what users read,
//     as pure functions and a small view type, no I/O.
//   - files.go: files in and out of projects (uploads, albums, /file,
//     the outbox after a run) and voice notes; view_file.go says how
//     it went.
//   - Trigger (orchestrator.go): runs no message started (timers, crons,
//     webhooks), posted in their chat and run like a message.
//   - drain.go, restore.go, reconcile.go: stopping (Drain, or Handover to
//     the orchestrator of a reloaded config), and starting again
//     after a stop.
//   - budget.go: what runs cost: each finished run's record in the
//     CostLedger (ledger_api.go), the day budgets (derived from the
//     ledger, so they survive restarts) and the per-run meter that
//     cancels a run past its budget; commands_usage.go: /usage, /stats.
//   - view_hint.go: the hint above a known engine failure.
//   - lifetime.go, replies.go: the goroutines Close waits for; plain
//     replies.
//
// Where a change goes:
//
//   - A new command: an entry in builtin, a case in commands.do and a
//     method of commands (commands.go).
//   - A new kind of message (a file, a voice note, a button): a field of
//     Message (api.go), its admission in intake.go if it needs one, its
//     routing in router.go, or its handler in commands.go for a button.
//   - A new run state: a runState in run.go, the transition where the run's
//     goroutine reaches it (run.go, run_deliver.go), and what it shows in
//     view_notice.go or view_progress.go; if it must survive a restart, a
//     RunRecord field and a runbook method that changes it.
//   - A new view (an approval, a file message): a view_*.go file beside
//     the others.
package orchestrator
