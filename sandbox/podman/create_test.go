package podman

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// subidService answers a create with rootless Podman 4.3's answer to the
// libsubid race `fail` times, then creates the container.
func subidService(fail int32, message string) (http.Handler, *atomic.Int32) {
	var calls atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/containers/create") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) <= fail {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"cause":"%s","message":"%s","response":500}`, message, message)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"Id":"c0ffee","Warnings":[]}`)
	}), &calls
}

const subidMessage = `keep-id requires additional UIDs or GIDs defined in /etc/subuid and /etc/subgid to function correctly: %!w(<nil>)`

func TestCreateTriesAgainAfterTheSubidRace(t *testing.T) {
	h, calls := subidService(2, subidMessage)
	r := New(Options{URL: serveUnix(t, h)})
	id, err := r.createContainer(context.Background(), &containerSpec{Name: "x"})
	if err != nil || id != "c0ffee" {
		t.Fatalf("createContainer = %q, %v; want c0ffee after two refusals", id, err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d creates, want 3", n)
	}
}

func TestCreateGivesUpOnTheSubidRace(t *testing.T) {
	h, calls := subidService(100, subidMessage)
	r := New(Options{URL: serveUnix(t, h)})
	if _, err := r.createContainer(context.Background(), &containerSpec{}); err == nil || !strings.Contains(err.Error(), "keep-id requires") {
		t.Fatalf("err = %v, want Podman's message", err)
	}
	if n := calls.Load(); n != createAttempts {
		t.Errorf("%d creates, want %d", n, createAttempts)
	}
}

func TestCreateDoesNotRetryOtherErrors(t *testing.T) {
	h, calls := subidService(100, "image not known")
	r := New(Options{URL: serveUnix(t, h)})
	if _, err := r.createContainer(context.Background(), &containerSpec{}); err == nil {
		t.Fatal("no error")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}

// TestWarmCreateGivenUpRemovesWhatPodmanMade: the pool closes while Podman
// makes a warm container; Podman makes it all the same, and the pool
// removes it.
func TestWarmCreateGivenUpRemovesWhatPodmanMade(t *testing.T) {
	removed := make(chan string, 1)
	creating := make(chan struct{})
	r := New(Options{URL: serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case strings.HasSuffix(req.URL.Path, "/exists"):
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(req.URL.Path, "/containers/create"):
			// Slow: the pool gives up first. (The server notices the
			// client's close once the body has been read.)
			io.Copy(io.Discard, req.Body)
			close(creating)
			select {
			case <-req.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case req.Method == http.MethodDelete:
			removed <- strings.TrimPrefix(req.URL.Path, apiPrefix+"/containers/")
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))})
	p := newPool(r)
	g := &containerSpec{}
	made := make(chan struct{})
	go func() {
		defer close(made)
		p.make(baseSpec("untether-x", t.TempDir()), g, "k", "g")
	}()
	<-creating
	p.cancel()
	<-made
	select {
	case name := <-removed:
		if name != g.Name || !strings.HasPrefix(name, warmPrefix+"k-") {
			t.Errorf("removed %q, want the warm container %q", name, g.Name)
		}
	case <-time.After(5 * time.Second):
		t.Error("the warm container whose create was given up was not removed")
	}
}

// TestRootlessCreatesOneAtATime: on a rootless service the Runner's
// creates do not overlap; on a rootful one they may.
func TestRootlessCreatesOneAtATime(t *testing.T) {
	for _, rootless := range []bool{true, false} {
		var now, most atomic.Int32
		r := New(Options{URL: serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			n := now.Add(1)
			defer now.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			io.Copy(io.Discard, req.Body)
			time.Sleep(50 * time.Millisecond)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"Id":"c0ffee"}`)
		}))})
		r.host.Rootless = rootless
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				if _, err := r.createContainer(context.Background(), &containerSpec{Name: fmt.Sprint("c", i)}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if rootless && most.Load() != 1 {
			t.Errorf("rootless: %d creates at once, want 1", most.Load())
		}
		if !rootless && most.Load() < 2 {
			t.Errorf("rootful: %d creates at once, want them side by side", most.Load())
		}
	}
}
