package opencode

import (
	"errors"
	"fmt"
	"strings"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/acp"
)

var _ engines.Interactive = Engine{}

// askPermission makes an interactive run ask before it edits a file, runs
// a shell command, fetches a page or touches a path outside the project;
// reading and searching go on unasked. The last matching key wins, so "*"
// comes first. OPENCODE_PERMISSION is merged over the config files.
const askPermission = `{"*":"allow","edit":"ask","bash":"ask","webfetch":"ask","external_directory":"ask"}`

// Session builds `opencode acp [EXTRA...]` and the ACP client that speaks
// to it (see package acp): the session is loaded when req.Resume is set,
// and req.Model is selected through the session's "model" option, since
// `opencode acp` takes no --model. Permissions come from the environment
// (askPermission); auto-update and sharing are off, as for one-shot runs.
//
// opencode has no way to continue its latest session over ACP without
// listing sessions, so req.Continue without a Resume id is an error, as are
// an empty prompt and an implausible resume id or model.
func (Engine) Session(req engines.Request, _ engines.SessionOptions) (engines.Invocation, engines.Protocol, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, nil, err
	}
	if req.Continue && req.Resume == "" {
		return engines.Invocation{}, nil, errors.New("build opencode session: continuing the latest session is not supported over ACP; resume a session by its id")
	}
	if err := checkModel(req.Model); err != nil {
		return engines.Invocation{}, nil, err
	}
	argv := append([]string{name, "acp"}, req.ExtraArgs...)
	env := map[string]string{
		"OPENCODE_PERMISSION":         askPermission,
		"OPENCODE_DISABLE_AUTOUPDATE": "1",
		"OPENCODE_DISABLE_SHARE":      "1",
	}
	p := acp.NewProtocol(acp.Config{Engine: name, Prompt: req.Prompt, Resume: req.Resume, Model: req.Model})
	return engines.Invocation{Argv: argv, Env: env}, p, nil
}

// Asks: opencode asks whether a tool may run, once or for the rest of the
// session. Its plan agent is not driven from here yet.
func (Engine) Asks() engines.AskSupport {
	return engines.AskSupport{Permission: true, Always: true}
}

// checkModel requires the "provider/model" form opencode names models by.
func checkModel(model string) error {
	if model == "" {
		return nil
	}
	provider, m, ok := strings.Cut(model, "/")
	if !ok || provider == "" || m == "" {
		return fmt.Errorf("build %s invocation: model %q is not of the form provider/model", name, model)
	}
	return nil
}
