package engines

import "fmt"

// Tools pairs a run's tool calls with their results, for decoders whose
// streams report a call and its result as separate events keyed by an id
// (the Anthropic message format of claude and amp). A call or result without
// an id gets a generated one. Used by one decoder goroutine.
type Tools struct {
	engine  string
	anon    int
	actions map[string]Action
}

// NewTools returns an empty tracker; engine prefixes generated ids.
func NewTools(engine string) *Tools {
	return &Tools{engine: engine, actions: map[string]Action{}}
}

func (t *Tools) id(id string) string {
	if id == "" {
		t.anon++
		id = fmt.Sprintf("%s-tool-%d", t.engine, t.anon)
	}
	return id
}

// Start records a as the started action of call id. A repeated id yields
// nothing.
func (t *Tools) Start(id string, a Action) (Action, bool) {
	id = t.id(id)
	if _, seen := t.actions[id]; seen {
		return Action{}, false
	}
	a.ID = id
	a.Phase = PhaseStarted
	t.actions[id] = a
	return a, true
}

// Complete returns the completed phase of call id's action, keeping its
// kind and title, with OK set to ok; the caller adds a Detail. A result
// for an unknown call is a generic tool; a second result yields nothing.
func (t *Tools) Complete(id string, ok bool) (Action, bool) {
	id = t.id(id)
	a, known := t.actions[id]
	if known && a.Phase == PhaseCompleted {
		return Action{}, false
	}
	if !known {
		a = Action{ID: id, Kind: KindTool, Title: "tool"}
	}
	a.Phase = PhaseCompleted
	a.OK = ok
	t.actions[id] = a
	return a, true
}
