package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// usageDirectives are the directives about what a run costs:
//
//	fake:cost=USD                the cost the result reports (claude)
//	fake:usage-stream=NxTOKENS   N assistant messages of TOKENS input and
//	                             TOKENS output tokens each, after the
//	                             first line, one per fake:delay (default
//	                             100ms): usage reported as the run goes
//	                             (claude)
type usageDirectives struct {
	cost        *float64
	usageCount  int
	usageTokens int64
}

// defaultUsageInterval spaces the usage messages when fake:delay is not set.
const defaultUsageInterval = 100 * time.Millisecond

// maxUsageMessages keeps fake:usage-stream within what a test can mean.
const maxUsageMessages = 100000

// set parses directive name=value; handled is false when it is not one of
// these directives.
func (u *usageDirectives) set(name, value string, hasValue bool) (handled bool, err error) {
	switch name {
	case "cost":
		if !hasValue {
			return true, errors.New("needs an amount of US dollars (cost=0.02)")
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v < 0 {
			return true, fmt.Errorf("cost %q is not an amount of US dollars", value)
		}
		u.cost = &v
	case "usage-stream":
		if !hasValue {
			return true, errors.New("needs COUNTxTOKENS (usage-stream=50x1000)")
		}
		n, tokens, ok := strings.Cut(value, "x")
		count, err1 := strconv.Atoi(n)
		tok, err2 := strconv.ParseInt(tokens, 10, 64)
		if !ok || err1 != nil || err2 != nil || count < 1 || count > maxUsageMessages || tok < 1 {
			return true, fmt.Errorf("%q is not COUNTxTOKENS with COUNT in 1..%d and TOKENS above 0", value, maxUsageMessages)
		}
		u.usageCount, u.usageTokens = count, tok
	default:
		return false, nil
	}
	return true, nil
}

// usageEngines are the fakes whose streams can carry these directives.
func supportsUsage(engine string) bool { return engine == "claude" }

// apply sets the reported cost in s; it refuses the directives for an
// engine whose stream cannot carry them.
func (u usageDirectives) apply(e *engine, s *stream) error {
	if (u.cost != nil || u.usageCount > 0) && !supportsUsage(e.name) {
		return fmt.Errorf("fake:cost and fake:usage-stream are for claude, not %s", e.name)
	}
	if u.cost == nil {
		return nil
	}
	for i, line := range s.lines {
		var ev struct {
			Type string          `json:"type"`
			Cost json.RawMessage `json:"total_cost_usd"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Type != "result" || ev.Cost == nil {
			continue
		}
		l, err := replaceLast(line, "total_cost_usd", ev.Cost, []byte(strconv.FormatFloat(*u.cost, 'f', -1, 64)))
		if err != nil {
			return err
		}
		s.lines[i] = l
		return nil
	}
	return errors.New("set cost: the stream has no result line with total_cost_usd")
}

// streamUsage prints the usage messages fake:usage-stream asks for, in the
// format of claude's assistant lines. It returns ctx's error when a signal
// ends the run, else a write error.
func (p *player) streamUsage(ctx context.Context) error {
	u := p.d.usage
	if u.usageCount == 0 {
		return nil
	}
	interval := p.d.delay
	if interval <= 0 {
		interval = defaultUsageInterval
	}
	model := "claude-sonnet-4-5"
	if len(p.stream.lines) > 0 {
		var init struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(p.stream.lines[0], &init) == nil && init.Model != "" {
			model = init.Model
		}
	}
	for i := range u.usageCount {
		if !wait(ctx, interval) {
			return ctx.Err()
		}
		line := map[string]any{
			"type": "assistant", "parent_tool_use_id": nil, "session_id": p.stream.sessionID,
			"message": map[string]any{
				"id": fmt.Sprintf("msg_fakeusage%06d", i+1), "type": "message", "role": "assistant", "model": model,
				"content": []any{map[string]any{"type": "thinking", "thinking": fmt.Sprintf("step %d of %d", i+1, u.usageCount)}},
				"usage": map[string]any{
					"input_tokens": u.usageTokens, "output_tokens": u.usageTokens,
					"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
				},
			},
		}
		if err := p.out.line(jsonJS(line)); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
	}
	return nil
}
