package engines

import (
	"strings"
	"testing"
)

func TestPreviews(t *testing.T) {
	long := strings.Repeat("line\n", PreviewLines+3)
	if got := PreviewText(long); !strings.HasSuffix(got, "line\n… 3 more lines") || strings.Count(got, "line\n") != PreviewLines {
		t.Errorf("PreviewText(long) = %q", got)
	}
	if got := PreviewText("one\n"); got != "one" {
		t.Errorf("PreviewText = %q", got)
	}
	if got := PreviewText(strings.Repeat("x", PreviewWidth+50)); len([]rune(got)) > PreviewWidth+1 {
		t.Errorf("a wide line was kept at %d runes", len([]rune(got)))
	}
	cases := []struct{ old, new, want string }{
		{"a\nb\nc\n", "a\nB\nc\n", "- b\n+ B"},
		{"", "new\n", "+ new"},
		{"gone\n", "", "- gone"},
		{"same", "same", ""},
	}
	for _, c := range cases {
		if got := PreviewEdit(c.old, c.new); got != c.want {
			t.Errorf("PreviewEdit(%q, %q) = %q, want %q", c.old, c.new, got, c.want)
		}
	}
	if got := PreviewEdit("", strings.Repeat("+\n", 20)); !strings.HasSuffix(got, "+ …") {
		t.Errorf("a long edit = %q", got)
	}
}
