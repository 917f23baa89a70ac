package gemini

import (
	"errors"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/acp"
)

var _ engines.Interactive = Engine{}

// Session builds `gemini --acp --skip-trust [-m MODEL] [EXTRA...]` and the
// ACP client that speaks to it (see package acp); the session is loaded
// over ACP when req.Resume is set. Without --yolo the CLI asks before it
// edits or runs anything. The environment is the one-shot run's (see
// Invocation).
//
// The CLI cannot continue its latest session over ACP, so req.Continue
// without a Resume id is an error, as are an empty prompt and an
// implausible resume id or model.
func (Engine) Session(req engines.Request, _ engines.SessionOptions) (engines.Invocation, engines.Protocol, error) {
	if err := engines.CheckRequest(name, req); err != nil {
		return engines.Invocation{}, nil, err
	}
	if req.Continue && req.Resume == "" {
		return engines.Invocation{}, nil, errors.New("build gemini session: continuing the latest session is not supported over ACP; resume a session by its id")
	}
	argv := []string{name, "--acp", "--skip-trust"}
	if req.Model != "" {
		argv = append(argv, "-m", req.Model)
	}
	argv = append(argv, req.ExtraArgs...)
	env := map[string]string{
		"GEMINI_SANDBOX":         "false",
		"GEMINI_CLI_NO_RELAUNCH": "true",
	}
	p := acp.NewProtocol(acp.Config{Engine: name, Prompt: req.Prompt, Resume: req.Resume})
	return engines.Invocation{Argv: argv, Env: env}, p, nil
}

// Asks: the Gemini CLI asks whether a tool may run, once or for the rest
// of the session. Its plan mode is not driven from here yet.
func (Engine) Asks() engines.AskSupport {
	return engines.AskSupport{Permission: true, Always: true}
}
