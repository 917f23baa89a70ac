package orchestrator

import (
	"fmt"
	"regexp"
)

// failureKind is a known way an engine's run fails outside the agent's
// work: its model API refused or could not be reached.
type failureKind int

const (
	failAuth failureKind = iota + 1
	failQuota
	failRateLimit
	failOverloaded
	failNetwork
)

// failureRules classify a failed run's error text and stderr, first match
// wins: quota before rate limits (an exhausted quota comes as a 429 too),
// rate limits before the rest.
var failureRules = []struct {
	kind failureKind
	re   *regexp.Regexp
}{
	{failQuota, regexp.MustCompile(`(?i)insufficient[_ ]quota|exceeded your (current )?quota|credit balance|billing|payment required|\b402\b|out of credits?`)},
	{failRateLimit, regexp.MustCompile(`(?i)rate[_ -]?limit|too many requests|\b429\b|resource[_ ]exhausted|requests per minute`)},
	{failAuth, regexp.MustCompile(`(?i)\b401\b|unauthori[sz]ed|unauthenticated|invalid[_ ](x-)?api[_ -]?key|api key (is )?(not valid|invalid|missing)|authentication|oauth token|access token|not logged in|please run /login|\b403\b|forbidden|permission[_ ]denied`)},
	{failQuota, regexp.MustCompile(`(?i)\bquota\b`)},
	{failOverloaded, regexp.MustCompile(`(?i)overloaded|high demand|server-side issue|internal server error|service unavailable|bad gateway|gateway timeout|\b529\b|(api error|status|http)[: ]*5\d\d\b|\b5\d\d (internal|service|bad gateway)|\((internal|unavailable)\)`)},
	{failNetwork, regexp.MustCompile(`(?i)econnrefused|econnreset|enotfound|etimedout|eai_again|getaddrinfo|connection (refused|reset|error)|network is unreachable|no such host|fetch failed|socket hang up|error sending request|dial tcp|could not resolve host|tls handshake`)},
}

// classifyFailure returns the kind of failure texts describe, 0 for none
// known.
func classifyFailure(texts ...string) failureKind {
	for _, rule := range failureRules {
		for _, t := range texts {
			if t != "" && rule.re.MatchString(t) {
				return rule.kind
			}
		}
	}
	return 0
}

// failureHint is the one line shown above the raw error of a run of
// engine that failed in a known way (see failureRules), "" otherwise.
func failureHint(engine string, texts ...string) string {
	switch classifyFailure(texts...) {
	case failAuth:
		return fmt.Sprintf("💡 The model API refused %s's credentials: check its API key ([%s.env] in the config) or log it in again.", engine, engine)
	case failQuota:
		return fmt.Sprintf("💡 The account behind %s's API key is out of quota or credit: check its plan and billing.", engine)
	case failRateLimit:
		return "💡 The model API is rate-limiting these requests: wait a minute, then try again."
	case failOverloaded:
		return "💡 The model API is overloaded or failing on its side: this usually passes; try again in a moment."
	case failNetwork:
		return fmt.Sprintf("💡 %s could not reach its model API: check the host's network, and that the project's sandbox network is not \"none\".", engine)
	}
	return ""
}
