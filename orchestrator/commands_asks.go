package orchestrator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/untether-go/untether/engines"
)

// The commands and presses of interactive runs: /approvals, /planmode,
// the buttons of an agent's requests, and answers in words to its
// questions.

// approvals shows or sets whether agents ask before they act in this chat.
func (c *commands) approvals(m Message, arg string) string {
	p, ok := c.router.projectFor(m, "")
	on, _ := c.router.approvals(m, p)
	state := map[bool]string{true: "on", false: "off"}[on]
	switch arg {
	case "":
		if !ok {
			return "Approvals are " + state + " here. " + approvalsHelp
		}
		return fmt.Sprintf("Approvals are %s here (project %s). %s", state, p.Name, approvalsHelp)
	case "on", "off":
		if c.opts.Chats == nil {
			return "This bridge keeps no chat settings: set approvals in the config instead."
		}
		if err := c.opts.Chats.SetSetting(chatKey(m), SettingApprovals, arg); err != nil {
			c.log.Error("save chat setting", "chat", m.ChatID, "err", err)
			return "The setting could not be saved; try again."
		}
		if arg == "on" {
			return "Approvals on: agents that can ask (" + strings.Join(c.askingEngines(), ", ") +
				") ask here before they run commands or change files. Pi and AMP have no way to ask: they act without asking."
		}
		return "Approvals off: agents act without asking here."
	}
	return "Use /approvals on or /approvals off."
}

const approvalsHelp = "Use /approvals on or /approvals off to change it."

// planMode shows or sets the chat's plan mode.
func (c *commands) planMode(m Message, arg string) string {
	p, _ := c.router.projectFor(m, "")
	on, plan := c.router.approvals(m, p)
	switch arg {
	case "":
		s := fmt.Sprintf("Plan mode is %s here. Use /planmode on (a plan first, run after your Approve), auto (a plan first, shown, then run) or off.", plan)
		if !on {
			s += " Approvals are off here, so no plan is shown: /approvals on first."
		}
		return s
	case PlanOn, PlanAuto, PlanOff:
		if c.opts.Chats == nil {
			return "This bridge keeps no chat settings: set plan_mode in the config instead."
		}
		if err := c.opts.Chats.SetSetting(chatKey(m), SettingPlanMode, arg); err != nil {
			c.log.Error("save chat setting", "chat", m.ChatID, "err", err)
			return "The setting could not be saved; try again."
		}
		s := "Plan mode " + arg + "."
		if arg != PlanOff {
			s += " Engines with a plan mode: " + strings.Join(c.planEngines(), ", ") + "."
			if !on {
				s += " It takes effect with /approvals on."
			}
		}
		return s
	}
	return "Use /planmode on, /planmode auto or /planmode off."
}

// askingEngines are the configured engines that can ask.
func (c *commands) askingEngines() []string {
	var out []string
	for _, name := range c.router.engineNames() {
		if _, ok := c.router.engine(name).(engines.Interactive); ok {
			out = append(out, name)
		}
	}
	return out
}

// planEngines are the configured engines with a plan mode.
func (c *commands) planEngines() []string {
	var out []string
	for _, name := range c.router.engineNames() {
		if ie, ok := c.router.engine(name).(engines.Interactive); ok && ie.Asks().Plan {
			out = append(out, name)
		}
	}
	return out
}

// silentEngines are the configured engines that cannot ask.
func (c *commands) silentEngines() []string {
	var out []string
	for _, name := range c.router.engineNames() {
		if !slices.Contains(c.askingEngines(), name) {
			out = append(out, name)
		}
	}
	return out
}

// pressAsk carries out a press on a request's button; it returns what the
// presser is told.
func (c *commands) pressAsk(m Message) string {
	id, seq, choice, ok := parseAskData(m.CallbackData)
	if !ok {
		return "This button is no longer in use."
	}
	r := c.sup.lookup(id)
	if r == nil || r.msg.ChatID != m.ChatID || r.conversation() == nil {
		return "This request is no longer open: its run has ended."
	}
	return r.conversation().answer(seq, choice, m.UserID, "")
}

// answerInWords answers the open question m replies to with m's text;
// ok is false when m replies to no open question.
func (c *commands) answerInWords(m Message) (reply string, ok bool) {
	if m.ReplyToID == 0 || strings.TrimSpace(m.Text) == "" {
		return "", false
	}
	for _, r := range c.sup.here(m.ChatID, m.ThreadID) {
		conv := r.conversation()
		if conv == nil {
			continue
		}
		if seq, ok := conv.byMessage(m.ReplyToID); ok {
			conv.answer(seq, choiceText, m.UserID, strings.TrimSpace(m.Text))
			return "", true
		}
	}
	return "", false
}
