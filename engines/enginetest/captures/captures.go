// Package captures holds what the real coding-agent CLIs printed when they
// ran headless against a scripted model API: for each engine, the stdout of
// each case (<engine>/<case>.jsonl), its stderr (<engine>/<case>.stderr.txt)
// and a README with the CLI's version, the exact command and its exit code,
// beside the requests the CLI made (mock-requests.txt) and the settings it
// ran with. README.md has the versions and the capture date;
// mockapi/README.md describes the mock.
//
// An engine's folder may also hold ACP transcripts, acp_<case>.jsonl: both
// directions of an interactive session over the Agent Client Protocol, one
// {"from": "client"|"agent", "msg": <the JSON-RPC message as sent>} a line
// (see TranscriptPrefix). They are not one-shot streams.
//
// It is the only copy of the captures: the fake engine replays them, and
// the adapters' golden tests, the orchestrator's tests and the decode
// benchmark read them, all through FS or Engine, so no test depends on a
// folder outside the repository.
//
// Only tests and the fake engine import it. It imports the standard library
// only.
package captures

import (
	"embed"
	"fmt"
	"io/fs"
)

// files is every capture; captures_test.go checks that it holds the whole
// folder.
//
//go:embed README.md amp claude codex gemini opencode pi mockapi
var files embed.FS

// TranscriptPrefix starts the name of an ACP transcript; the suites that
// replay one-shot streams skip such files.
const TranscriptPrefix = "acp_"

// FS returns every capture, by slash-separated path: README.md,
// mockapi/README.md and <engine>/<file>. It is safe for concurrent use.
func FS() fs.FS {
	return files
}

// Engine returns the captures of one engine, rooted at its folder:
// <case>.jsonl, <case>.stderr.txt, README.md and the capture's other files.
// For an engine that was never captured, every read fails with
// fs.ErrNotExist. Engine panics when name is not a valid path (see
// fs.ValidPath).
func Engine(name string) fs.FS {
	sub, err := fs.Sub(files, name)
	if err != nil {
		panic(fmt.Sprintf("captures: engine %q: %v", name, err))
	}
	return sub
}
