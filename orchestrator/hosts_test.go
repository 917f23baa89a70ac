package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/sandbox"
)

// hostBox is a sandbox of several hosts: it has no room until release is
// closed, says so through the spec's placement, then places the run on b.
type hostBox struct {
	*fakeSandbox
	release chan struct{}
}

func (b *hostBox) Run(ctx context.Context, spec sandbox.Spec, onLine func([]byte)) (sandbox.Result, error) {
	if spec.Placement.Waiting != nil {
		spec.Placement.Waiting("waiting for a host (b full)")
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return sandbox.Result{}, fmt.Errorf("place: %w", ctx.Err())
	}
	if spec.Placement.Placed != nil {
		spec.Placement.Placed("b")
	}
	return b.fakeSandbox.Run(ctx, spec, onLine)
}

func hostProject(o *Options) {
	o.Projects[0].Hosts = []string{"b", "local"}
	o.Projects[0].Remote = true
}

func TestRunWaitsVisiblyForAHost(t *testing.T) {
	chat := newFakeChat()
	box := &hostBox{fakeSandbox: &fakeSandbox{stream: fixture(t, "basic.jsonl")}, release: make(chan struct{})}
	o := newTestOrchestrator(t, box.fakeSandbox, chat, hostProject, func(o *Options) { o.Sandbox = box })
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "hi"})
	pid := chat.progressOf(t, 1)
	chat.waitEdit(t, pid, "queued · waiting for a host (b full)")
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 9, UserID: 7, Text: "/status"})
	if s := chat.replyTo(t, 9); !strings.Contains(s, "queued, waiting for a host (b full)") {
		t.Errorf("/status while waiting for a host = %q", s)
	}
	close(box.release)
	if f := chat.waitFinals(t, 1)[0]; !strings.Contains(f.Text.S, "Done. Created hello.txt.") {
		t.Fatalf("final = %q", f.Text.S)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "again"})
	chat.waitFinals(t, 2)
	box.mu.Lock()
	defer box.mu.Unlock()
	first, second := box.specs[0].Placement, box.specs[1].Placement
	if !slices.Equal(first.Hosts, []string{"b", "local"}) || first.Session == "" || first.Resumes {
		t.Errorf("first run's placement = %+v", first)
	}
	if second.Session != first.Session || !second.Resumes {
		t.Errorf("second run's placement = %+v, want the same session, resumed", second)
	}
}

func TestLostHostIsSaid(t *testing.T) {
	chat := newFakeChat()
	box := &fakeSandbox{err: &sandbox.HostLostError{Host: "b", Err: fmt.Errorf("wait: %w", sandbox.ErrUnavailable)}}
	o := newTestOrchestrator(t, box, chat)
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "x"})
	f := chat.waitFinals(t, 1)[0]
	if !strings.Contains(f.Text.S, "the host b became unreachable") || strings.Contains(f.Text.S, "wait:") {
		t.Errorf("final = %q", f.Text.S)
	}
}

// A project whose runs may go to a remote host has its folder there, not
// here: the features that move files through the bridge's folder say so.
func TestRemoteProjectRefusesBridgeFiles(t *testing.T) {
	chat := newFileChat()
	box := &outboxBox{fakeSandbox: &fakeSandbox{stream: fixture(t, "basic.jsonl")}, files: map[string]string{"report.txt": "R"}}
	o, dir := newFileOrchestrator(t, box, chat, hostProject, func(o *Options) { o.Workspaces = &fakeWorkspaces{} })
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("N"), 0o644)

	o.Handle(context.Background(), Message{ChatID: group, MessageID: 1, UserID: 7, Text: "/file get notes.txt"})
	chat.waitReply(t, 1, "cannot reach the project's folder (hosts: b, local)")
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 2, UserID: 7, Text: "/file put",
		Files: []Attachment{chat.file("f1", []byte("data"))}})
	chat.waitReply(t, 2, "cannot reach the project's folder")
	if _, err := os.Stat(filepath.Join(dir, "incoming")); !os.IsNotExist(err) {
		t.Error("an upload was written into the bridge's folder")
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 3, UserID: 7, Text: "@feature go"})
	if f := chat.waitFinals(t, 1)[0]; !strings.Contains(f.Text.S, "Files and branches are not available in project app") {
		t.Errorf("branch run answered %q", f.Text.S)
	}
	o.Handle(context.Background(), Message{ChatID: group, MessageID: 4, UserID: 7, Text: "write a report"})
	if f := chat.waitFinals(t, 2)[1]; !strings.Contains(f.Text.S, "Done. Created hello.txt.") {
		t.Errorf("run answered %q", f.Text.S)
	}
	o.Close()
	chat.fmu.Lock()
	defer chat.fmu.Unlock()
	if len(chat.sent) != 0 {
		t.Errorf("files sent from the bridge's folder: %d", len(chat.sent))
	}
}
