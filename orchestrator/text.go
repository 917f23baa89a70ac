package orchestrator

import "strings"

// EntityType is a Telegram formatting entity the orchestrator uses.
type EntityType string

const (
	EntityBold EntityType = "bold"
	EntityCode EntityType = "code"
	EntityPre  EntityType = "pre"

	EntityItalic        EntityType = "italic"
	EntityStrikethrough EntityType = "strikethrough"
	EntityTextLink      EntityType = "text_link"
	EntityBlockquote    EntityType = "blockquote"
)

// Entity formats a part of a Text. Offset and Length count bytes of Text.S;
// the chat transport converts them to its own units.
type Entity struct {
	Type     EntityType
	Offset   int
	Length   int
	Language string
	URL      string // for EntityTextLink
}

// Text is a message body with its formatting.
type Text struct {
	S        string
	Entities []Entity
}

// textBuilder assembles a Text piece by piece.
type textBuilder struct {
	b        strings.Builder
	entities []Entity
}

func (t *textBuilder) plain(s string) { t.b.WriteString(s) }

func (t *textBuilder) styled(typ EntityType, s string) {
	if s == "" {
		return
	}
	t.entities = append(t.entities, Entity{Type: typ, Offset: t.b.Len(), Length: len(s)})
	t.b.WriteString(s)
}

// append adds a formatted Text, shifting its entities.
func (t *textBuilder) append(x Text) {
	off := t.b.Len()
	for _, e := range x.Entities {
		e.Offset += off
		t.entities = append(t.entities, e)
	}
	t.b.WriteString(x.S)
}

func (t *textBuilder) text() Text {
	return Text{S: t.b.String(), Entities: append([]Entity(nil), t.entities...)}
}

// plainText is a Text without formatting.
func plainText(s string) Text { return Text{S: s} }
