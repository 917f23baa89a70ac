package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// callsFile is the invocation log, relative to the working directory (the
// project directory mounted in the container). enginetest.ReadCalls reads it.
const callsFile = ".fakeengine-calls.jsonl"

// call is one line of callsFile. Environment values are left out: they may
// hold secrets, and the names are what tests check.
type call struct {
	Argv    []string `json:"argv"`
	Cwd     string   `json:"cwd"`
	UID     int      `json:"uid"`
	GID     int      `json:"gid"`
	EnvKeys []string `json:"env_keys"`
}

// recordCall appends this invocation to callsFile. A log that cannot be
// written is reported on stderr and the run goes on: a read-only project
// directory is something the tests look at, not a reason to die.
func recordCall() {
	cwd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeengine: record call: %v\n", err)
		return
	}
	line, err := json.Marshal(call{
		Argv:    os.Args,
		Cwd:     cwd,
		UID:     os.Getuid(),
		GID:     os.Getgid(),
		EnvKeys: envKeys(),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeengine: record call: %v\n", err)
		return
	}
	// One write on an O_APPEND file: concurrent runs in the same directory
	// never interleave their lines.
	f, err := os.OpenFile(callsFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeengine: record call: %v\n", err)
		return
	}
	_, werr := f.Write(append(line, '\n'))
	cerr := f.Close()
	if werr != nil || cerr != nil {
		fmt.Fprintf(os.Stderr, "fakeengine: record call: write %s: %v %v\n", callsFile, werr, cerr)
	}
}

// envKeys returns the sorted names of the environment variables.
func envKeys() []string {
	env := os.Environ()
	keys := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
