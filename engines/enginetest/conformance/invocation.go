package conformance

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
)

// OwnedFlagsRefused keeps CheckExtraArgs in step with Invocation: every
// flag the invocation of one of reqs sets must be refused as an extra arg.
// Arguments that are no flag ("-" for stdin, "--", values) are not checked.
func OwnedFlagsRefused(t *testing.T, eng engines.Engine, reqs ...engines.Request) {
	t.Helper()
	for _, req := range reqs {
		inv, err := eng.Invocation(req)
		if err != nil {
			t.Fatalf("Invocation(%+v): %v", req, err)
		}
		for _, a := range inv.Argv[1:] {
			if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
				continue
			}
			if err := eng.CheckExtraArgs([]string{a}); err == nil {
				t.Errorf("Invocation sets %s but CheckExtraArgs accepts it", a)
			}
		}
	}
}

// An ArgsCase is a user's extra_args and what CheckExtraArgs must say of
// them.
type ArgsCase struct {
	Name string
	Args []string
	// WantErr lists what the error must name; none means the args are
	// accepted.
	WantErr []string
}

// ExtraArgs checks CheckExtraArgs against the engine's cases, and refuses
// a NUL byte for every engine.
func ExtraArgs(t *testing.T, eng engines.Engine, cases ...ArgsCase) {
	cases = append([]ArgsCase{
		{Name: "none"},
		{Name: "NUL", Args: []string{"a\x00b"}, WantErr: []string{"NUL byte"}},
	}, cases...)
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			err := eng.CheckExtraArgs(tt.Args)
			if len(tt.WantErr) == 0 {
				if err != nil {
					t.Fatalf("CheckExtraArgs(%q) = %v, want nil", tt.Args, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckExtraArgs(%q) = nil, want an error", tt.Args)
			}
			for _, want := range tt.WantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("CheckExtraArgs(%q) = %v, want it to name %q", tt.Args, err, want)
				}
			}
		})
	}
}

// An InvocationCase is a Request and the argv Invocation must build for
// it, or the error it must return.
type InvocationCase struct {
	Name string
	Req  engines.Request
	Want []string
	// WantErr is what the error must contain; empty means success.
	WantErr string
}

// Invocations checks Invocation against the engine's cases: the argv of
// each request, or an error that contains WantErr and starts
// "build <engine> invocation: ". check, when not nil, checks the rest of
// each invocation built.
func Invocations(t *testing.T, eng engines.Engine, check func(t *testing.T, req engines.Request, inv engines.Invocation), cases ...InvocationCase) {
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			inv, err := eng.Invocation(tt.Req)
			if tt.WantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.WantErr) {
					t.Fatalf("Invocation() error = %v, want one containing %q", err, tt.WantErr)
				}
				if prefix := "build " + eng.Name() + " invocation: "; !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("error %q lacks the operation phrase", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Invocation() error = %v", err)
			}
			if !slices.Equal(inv.Argv, tt.Want) {
				t.Errorf("Argv =\n  %q\nwant\n  %q", inv.Argv, tt.Want)
			}
			if check != nil {
				check(t, tt.Req, inv)
			}
		})
	}
}

// EnvOnly is a check for Invocations: the invocation sets exactly env (nil
// for none) and gives the process no standard input.
func EnvOnly(env map[string]string) func(t *testing.T, req engines.Request, inv engines.Invocation) {
	return func(t *testing.T, _ engines.Request, inv engines.Invocation) {
		t.Helper()
		if !maps.Equal(inv.Env, env) {
			t.Errorf("Env = %v, want %v", inv.Env, env)
		}
		if inv.Stdin != nil {
			t.Errorf("Stdin = %q, want none", inv.Stdin)
		}
	}
}

// InvalidRequests checks that Invocation refuses what no CLI can be given:
// an empty or blank prompt, one with a NUL byte, and a resume id too long
// to be one. The error starts "build <engine> invocation: " and names the
// field.
func InvalidRequests(t *testing.T, eng engines.Engine) {
	Invocations(t, eng, nil,
		InvocationCase{Name: "empty prompt", Req: engines.Request{}, WantErr: "prompt is empty"},
		InvocationCase{Name: "blank prompt", Req: engines.Request{Prompt: " \n\t"}, WantErr: "prompt is empty"},
		InvocationCase{Name: "prompt with NUL", Req: engines.Request{Prompt: "a\x00b"}, WantErr: "prompt contains a NUL"},
		InvocationCase{Name: "resume too long", Req: engines.Request{Prompt: "hi", Resume: strings.Repeat("a", 200)}, WantErr: "resume id"},
	)
}
