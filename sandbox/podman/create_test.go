package podman

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
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
	id, err := r.createContainer(context.Background(), map[string]string{"name": "x"})
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
	if _, err := r.createContainer(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "keep-id requires") {
		t.Fatalf("err = %v, want Podman's message", err)
	}
	if n := calls.Load(); n != createAttempts {
		t.Errorf("%d creates, want %d", n, createAttempts)
	}
}

func TestCreateDoesNotRetryOtherErrors(t *testing.T) {
	h, calls := subidService(100, "image not known")
	r := New(Options{URL: serveUnix(t, h)})
	if _, err := r.createContainer(context.Background(), nil); err == nil {
		t.Fatal("no error")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}
