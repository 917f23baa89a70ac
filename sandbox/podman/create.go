package podman

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// createAttempts and createRetryDelay bound the tries of a container create
// that failed for the subordinate id race (see createContainer).
const (
	createAttempts   = 4
	createRetryDelay = 150 * time.Millisecond
)

// createContainer creates a container from g and returns its id.
//
// Rootless Podman 4.3 (Debian 12's) reads /etc/subuid through libsubid,
// which is not safe for concurrent use: of two keep-id containers created
// at the same moment, one can fail with "no subuid ranges found" or
// "keep-id requires additional UIDs" although the file is right, or be
// made with id mappings the runtime then refuses ("writing file
// /proc/N/uid_map: Operation not permitted" when it starts). So on a
// rootless service this Runner creates one container at a time; and a
// create that failed for that race all the same (another client of the
// service created one meanwhile) is tried again, a little later each time:
// Podman fails it before it makes anything.
func (r *Runner) createContainer(ctx context.Context, g *containerSpec) (string, error) {
	r.mu.Lock()
	rootless := r.host.Rootless
	r.mu.Unlock()
	if rootless {
		select {
		case r.creating <- struct{}{}:
			defer func() { <-r.creating }()
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	var created struct {
		ID string `json:"Id"`
	}
	for attempt := 1; ; attempt++ {
		err := r.api.call(ctx, http.MethodPost, "/containers/create", nil, g, &created)
		if err == nil || !subidRace(err) || attempt == createAttempts {
			return created.ID, err
		}
		r.log.Debug("podman lost its subordinate ids for a moment; creating again", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(time.Duration(attempt) * createRetryDelay):
		}
	}
}

// subidRace tells Podman's answer to a create that lost the libsubid race.
func subidRace(err error) bool {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError {
		return false
	}
	return strings.Contains(ae.Message, "keep-id requires additional UIDs") ||
		strings.Contains(ae.Message, "no subuid ranges found")
}
