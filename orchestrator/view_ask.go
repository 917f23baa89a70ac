package orchestrator

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/untether-go/untether/engines"
)

// askData starts the callback data of a request's buttons:
// "ask:<run>:<seq>:<choice>".
const askData = "ask:"

// The choices a request's buttons carry.
const (
	choiceAllow   = "y"
	choiceAlways  = "a"
	choiceDeny    = "n"
	choiceStop    = "s" // a plan's Deny: the run ends
	choiceDiscuss = "d" // a plan's "Let's discuss"
	choiceOption  = "o" // followed by the option's index
	choiceText    = "t" // an answer in words (a reply to the message)
)

// askButtons are the buttons of request a of run runID.
func askButtons(runID string, a *ask) []Button {
	data := func(choice string) string { return fmt.Sprintf("%s%s:%d:%s", askData, runID, a.seq, choice) }
	switch a.ask.Kind {
	case engines.AskQuestion:
		var bs []Button
		for i, o := range a.ask.Options {
			if i == 8 {
				break // Telegram's row holds 8 buttons
			}
			bs = append(bs, Button{Text: engines.Clip(o.Label, 40), Data: data(choiceOption + strconv.Itoa(i))})
		}
		return bs
	case engines.AskPlan:
		return []Button{{Text: "Approve", Data: data(choiceAllow)}, {Text: "Deny", Data: data(choiceStop)},
			{Text: "Let's discuss", Data: data(choiceDiscuss)}}
	}
	bs := []Button{{Text: "Approve", Data: data(choiceAllow)}, {Text: "Deny", Data: data(choiceDeny)}}
	if a.ask.Always {
		bs = append(bs, Button{Text: "Always this session", Data: data(choiceAlways)})
	}
	return bs
}

// parseAskData reads "ask:<run>:<seq>:<choice>".
func parseAskData(data string) (run string, seq int, choice string, ok bool) {
	rest, ok := strings.CutPrefix(data, askData)
	if !ok {
		return "", 0, "", false
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return "", 0, "", false
	}
	seq, err := strconv.Atoi(parts[1])
	if err != nil || seq < 1 || parts[2] == "" {
		return "", 0, "", false
	}
	return parts[0], seq, parts[2], true
}

// replyFor turns a choice into the engine's reply and the line the
// request's message shows after it; ok is false for a choice the request
// never offered.
func replyFor(a engines.Ask, choice, text string) (engines.Reply, string, bool) {
	switch choice {
	case choiceAllow:
		if a.Kind == engines.AskPlan {
			return engines.Reply{Allow: true}, "✅ Plan approved.", true
		}
		return engines.Reply{Allow: true}, "✅ Approved.", true
	case choiceAlways:
		return engines.Reply{Allow: true, Always: true}, "✅ Approved for the rest of this session.", true
	case choiceDeny:
		if text == "" {
			text = "The user denied this."
		}
		return engines.Reply{Text: text}, "❌ Denied.", true
	case choiceStop:
		return engines.Reply{Stop: true, Text: "The user rejected the plan. Stop here."}, "❌ Plan denied: the run stops.", true
	case choiceDiscuss:
		return engines.Reply{Text: "The user wants to discuss the plan before anything is done. Do not carry it out: " +
			"ask what they would change, and wait for their next message."}, "💬 Let's discuss: the agent waits for your message.", true
	case choiceText:
		return engines.Reply{Allow: true, Text: text}, "💬 Answered: " + engines.Clip(text, 200), true
	}
	if n, ok := strings.CutPrefix(choice, choiceOption); ok {
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 || i >= len(a.Options) {
			return engines.Reply{}, "", false
		}
		o := a.Options[i]
		return engines.Reply{Allow: true, Text: o.Label, Option: o.ID}, "💬 Answered: " + o.Label, true
	}
	return engines.Reply{}, "", false
}

// askText is a request's message: what the agent asks, and once it is
// settled, how (outcome).
func askText(engine string, a *ask, outcome string) Text {
	var b textBuilder
	e := a.ask
	switch e.Kind {
	case engines.AskQuestion:
		b.styled(EntityBold, "❓ "+engine+" asks")
		if e.Title != "" && e.Title != "Question" {
			b.plain(" · " + e.Title)
		}
		b.plain("\n" + e.Question)
		for i, o := range e.Options {
			b.plain(fmt.Sprintf("\n%d. %s", i+1, o.Label))
			if o.Description != "" {
				b.plain(" — " + o.Description)
			}
		}
		if e.Preview != "" {
			b.plain("\n" + e.Preview)
		}
		if outcome == "" {
			b.plain("\n\n")
			b.styled(EntityItalic, "Press an option, or reply to this message to answer in your own words.")
		}
	case engines.AskPlan:
		b.styled(EntityBold, "📋 "+engine+" proposes a plan")
		if e.Preview != "" {
			b.plain("\n\n" + e.Preview)
		}
	default:
		b.styled(EntityBold, "🔐 "+engine+" asks to run "+e.Title)
		if e.Preview != "" {
			b.plain("\n")
			b.styled(EntityPre, e.Preview)
		}
	}
	if outcome != "" {
		b.plain("\n\n" + outcome)
	}
	return b.text()
}

// waitingNote is the progress message's last line while a request waits.
func waitingNote(title string) string {
	return "⏸ waiting for approval: " + title
}
