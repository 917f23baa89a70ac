// Package webhook turns signed HTTP calls into runs: it owns the listener of
// [triggers] listen and one Hook per [[triggers.webhooks]], checks each
// call's signature or bearer token, filters its event, renders the hook's
// prompt template over the JSON body, and hands the result to Options.Fire
// as a Call. What a Call starts (the "⚡ webhook <id>" message in the
// project's chat, the run that replies to it) is the caller's business.
//
// It depends on the standard library only; cmd/untether translates the
// config into Options and wires Fire to the orchestrator.
//
// What a caller sees, in the order the checks run:
//
//	404  no hook at this path
//	405  not a POST
//	429  too many calls in all (the global bucket); Retry-After says when to retry
//	413  body over Options.MaxBody (default 1 MiB); at most MaxBody+1 bytes are read
//	401  bad or missing signature (hmac-sha256) or token (bearer)
//	400  body is not a JSON object
//	200  "pong" for GitHub's ping event
//	202  "ignored" for an event outside the hook's event_filter
//	422  the prompt rendered empty, or could not be rendered
//	200  "duplicate" for a delivery already fired (see Replays)
//	429  too many calls to this hook
//	503  Fire failed
//	202  {"ok":true}: Fire started the run
//
// Nothing but the 202 {"ok":true} starts anything. Refusals are logged once
// per hook and reason per minute, with a count of those left unsaid, so a
// flood of bad calls does not flood the log; no log line holds a secret, a
// signature or a body.
//
// # Authentication
//
// A Hook with Auth "hmac-sha256" wants the hex HMAC-SHA256 of the raw body
// under its secret, as GitHub sends it: "X-Hub-Signature-256: sha256=<hex>"
// (other senders may use "X-Signature-256" in the same form). A Hook with
// Auth "bearer" wants "Authorization: Bearer <secret>"; it authenticates the
// sender but not the body, so it belongs behind TLS. Both compare in
// constant time.
//
// # Replays
//
// A signature covers the body but no header, so replays are caught by
// memory: a delivery id (X-GitHub-Delivery, or X-Delivery) seen by the same
// hook within Options.ReplayWindow (default 1h) is answered 200 "duplicate",
// and so is, for hmac-sha256 hooks, a body identical to one already fired
// within that window (a captured call replayed with a new delivery id). A
// body changed in any byte fails its signature. A call whose Fire failed is
// forgotten, so the sender may redeliver it.
//
// # Prompts
//
// PromptTemplate is a text/template executed over the decoded body (a
// map[string]any; numbers are json.Number, so ids print as sent).
// {{ .issue.title }} reads a field; a field that is missing or null, or
// below one that is, renders empty rather than "<no value>" or an error.
// The output is trimmed and cut at MaxPrompt bytes.
//
// # Rate limits
//
// A global token bucket (Options.GlobalRate, default 120 calls a minute,
// bursts of 30) counts every call to a hook's path before its body is read,
// which bounds the work strangers can cause. Each hook's bucket
// (Options.HookRate, default 30 a minute, bursts of 10) counts only the calls
// it would fire: authentic, wanted and new. A call whose Fire fails gives
// its token back.
//
// # Listening
//
// The listener speaks plain HTTP. The intended setup is a loopback address
// (127.0.0.1:9876) behind a reverse proxy or tunnel that terminates TLS; a
// non-loopback address is allowed (the config must name it explicitly) and
// logged as a warning at start.
package webhook
