package telegramtest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// maxTextLen is Telegram's limit on a message text, in UTF-16 code units.
const maxTextLen = 4096

// maxCallbackData is Telegram's limit on an inline button's data, in bytes.
const maxCallbackData = 64

// utf16Len counts s in UTF-16 code units, the unit of Telegram's lengths and
// entity offsets: characters beyond the BMP (most emoji) count 2.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// checkText applies sendMessage's rules to a text; tooLong is the
// description of an over-long one, which differs between send and edit.
func checkText(text, tooLong string) *apiError {
	if strings.TrimSpace(text) == "" {
		return badRequest("message text is empty")
	}
	if utf16Len(text) > maxTextLen {
		return badRequest(tooLong)
	}
	return nil
}

// readEntities decodes and checks the entities parameter (key: entities
// or caption_entities) against text.
func readEntities(p params, key, text string) ([]wireEntity, *apiError) {
	var ents []wireEntity
	if _, err := p.decode(key, &ents); err != nil {
		return nil, badRequest("can't parse entities JSON object")
	}
	if err := checkEntities(ents, utf16Len(text)); err != nil {
		return nil, badRequest("can't parse entities: " + err.Error())
	}
	if len(ents) == 0 {
		return nil, nil
	}
	return ents, nil
}

// checkEntities validates entities for a text of textLen UTF-16 units.
func checkEntities(ents []wireEntity, textLen int) error {
	for i, e := range ents {
		if !isEntityType(e.Type) {
			return fmt.Errorf("entity %d: unsupported entity type %q", i, e.Type)
		}
		if e.Offset < 0 || e.Length <= 0 || e.Offset+e.Length > textLen {
			return fmt.Errorf("entity %d: range [%d, %d) is outside the text of %d UTF-16 code units",
				i, e.Offset, e.Offset+e.Length, textLen)
		}
		switch {
		case e.Type == "text_link" && e.URL == "":
			return fmt.Errorf("entity %d: text_link without url", i)
		case e.Type == "text_mention" && (e.User == nil || e.User.ID == 0):
			return fmt.Errorf("entity %d: text_mention without user", i)
		case e.Type == "custom_emoji" && e.CustomEmojiID == "":
			return fmt.Errorf("entity %d: custom_emoji without custom_emoji_id", i)
		case e.Language != "" && e.Type != "pre":
			return fmt.Errorf("entity %d: language is only for pre", i)
		}
	}
	return nil
}

func isEntityType(t string) bool {
	switch t {
	case "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number",
		"bold", "italic", "underline", "strikethrough", "spoiler", "blockquote",
		"expandable_blockquote", "code", "pre", "text_link", "text_mention", "custom_emoji":
		return true
	}
	return false
}

// entitiesEqual compares entity lists field by field.
func entitiesEqual(a, b []wireEntity) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Type != y.Type || x.Offset != y.Offset || x.Length != y.Length || x.URL != y.URL ||
			x.Language != y.Language || x.CustomEmojiID != y.CustomEmojiID ||
			(x.User == nil) != (y.User == nil) || (x.User != nil && x.User.ID != y.User.ID) {
			return false
		}
	}
	return true
}

// markupShape is what the server checks of a reply_markup.
type markupShape struct {
	InlineKeyboard *[][]struct {
		Text         string  `json:"text"`
		CallbackData *string `json:"callback_data"`
		URL          string  `json:"url"`
		// Other button kinds make a button valid without callback_data.
		SwitchInlineQuery *string         `json:"switch_inline_query"`
		CopyText          json.RawMessage `json:"copy_text"`
		WebApp            json.RawMessage `json:"web_app"`
		LoginURL          json.RawMessage `json:"login_url"`
	} `json:"inline_keyboard"`
}

// readMarkup decodes and checks reply_markup; it returns canonical JSON.
func readMarkup(p params) (json.RawMessage, *apiError) {
	raw, err := p.raw("reply_markup")
	if err != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	if raw == nil {
		return nil, nil
	}
	var m markupShape
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	if m.InlineKeyboard == nil {
		return raw, nil
	}
	for _, row := range *m.InlineKeyboard {
		for _, b := range row {
			if b.Text == "" {
				return nil, badRequest("text buttons are unallowed in the inline keyboard")
			}
			if b.CallbackData != nil && (len(*b.CallbackData) == 0 || len(*b.CallbackData) > maxCallbackData) {
				return nil, badRequest("BUTTON_DATA_INVALID")
			}
			if b.CallbackData == nil && b.URL == "" && b.SwitchInlineQuery == nil &&
				b.CopyText == nil && b.WebApp == nil && b.LoginURL == nil {
				return nil, badRequest("text buttons are unallowed in the inline keyboard")
			}
		}
	}
	return raw, nil
}

// isInlineKeyboard reports whether markup is an InlineKeyboardMarkup, the
// only kind Telegram echoes back in a Message.
func isInlineKeyboard(markup json.RawMessage) bool {
	if len(markup) == 0 {
		return false
	}
	var m markupShape
	return json.Unmarshal(markup, &m) == nil && m.InlineKeyboard != nil
}

// checkCommands applies setMyCommands' rules.
func checkCommands(cmds []wireCommand) *apiError {
	if len(cmds) > 100 {
		return badRequest("BOT_COMMANDS_TOO_MUCH")
	}
	for _, c := range cmds {
		if !isCommandName(c.Command) {
			return badRequest("BOT_COMMAND_INVALID")
		}
		if n := utf16Len(c.Description); strings.TrimSpace(c.Description) == "" || n > 256 {
			return badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
		}
	}
	return nil
}

// isCommandName matches ^[a-z0-9_]{1,32}$.
func isCommandName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}
