package render

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/untether-go/untether/orchestrator"
)

// split cuts b into parts of at most maxUnits UTF-16 code units.
func split(b *buf, maxUnits int) []orchestrator.Text {
	s := b.s.String()
	if maxUnits < 1 {
		maxUnits = len(s) + 1 // every rune is at least one byte
	}
	breaks := b.breaks
	sort.Ints(breaks)
	var parts []orchestrator.Text
	start := 0
	for start < len(s) {
		for start < len(s) && s[start] == '\n' {
			start++
		}
		if start >= len(s) {
			break
		}
		end, units := start, 0
		for end < len(s) {
			r, size := utf8.DecodeRuneInString(s[end:])
			w := 1
			if r >= 0x10000 {
				w = 2
			}
			if units+w > maxUnits {
				break
			}
			units += w
			end += size
		}
		if end == start {
			// A rune wider than the whole limit cannot be sent at all.
			_, size := utf8.DecodeRuneInString(s[start:])
			start += size
			continue
		}
		cut := end
		if end < len(s) {
			cut = chooseCut(s, breaks, start, end)
		}
		if p, ok := part(s, b.ents, start, cut); ok {
			parts = append(parts, p)
		}
		start = cut
	}
	return parts
}

// chooseCut picks where the part [start, end) ends: a block boundary in its
// second half, else the last line boundary, else end itself.
func chooseCut(s string, breaks []int, start, end int) int {
	i := sort.SearchInts(breaks, end+1) - 1
	if i >= 0 && breaks[i] > start && breaks[i]-start >= (end-start)/2 {
		return breaks[i]
	}
	if s[end] == '\n' {
		return end
	}
	if j := strings.LastIndexByte(s[start:end], '\n'); j > 0 {
		return start + j
	}
	if i >= 0 && breaks[i] > start {
		return breaks[i]
	}
	return end
}

// part is s[start:cut] without trailing newlines, with the entities clipped
// to it. ok is false when the part has nothing visible to send.
func part(s string, ents []orchestrator.Entity, start, cut int) (orchestrator.Text, bool) {
	for cut > start && s[cut-1] == '\n' {
		cut--
	}
	t := orchestrator.Text{S: s[start:cut]}
	if strings.TrimSpace(t.S) == "" {
		return t, false
	}
	for _, e := range ents {
		a, z := max(e.Offset, start), min(e.Offset+e.Length, cut)
		if z <= a {
			continue
		}
		e.Offset, e.Length = a-start, z-a
		t.Entities = append(t.Entities, e)
	}
	return t, true
}
