package podman

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// killedByPodman reports whether Podman was told to kill the container id
// (`podman kill`, from outside the bridge: the Runner stops containers,
// it does not kill them, but as the stop's last resort) since since. A
// SIGKILL the kernel's OOM killer sends is no Podman event: this tells a
// kill from outside from an OOM kill whose count the cgroup took along.
func (r *Runner) killedByPodman(ctx context.Context, id string, since time.Time) (bool, error) {
	filters, err := json.Marshal(map[string][]string{"container": {id}, "event": {"kill"}})
	if err != nil {
		return false, err
	}
	q := url.Values{
		"stream":  {"false"},
		"since":   {strconv.FormatInt(since.Add(-time.Second).Unix(), 10)},
		"filters": {string(filters)},
	}
	req, err := r.api.request(ctx, http.MethodGet, "/events", q, nil)
	if err != nil {
		return false, err
	}
	resp, err := r.api.do(req)
	if err != nil {
		return false, fmt.Errorf("read events: %w", err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Action string
			Status string `json:"status"`
		}
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, fmt.Errorf("decode events: %w", err)
		}
		if ev.Action == "kill" || ev.Status == "kill" {
			return true, nil
		}
	}
}
