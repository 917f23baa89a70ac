package conformance

import (
	"testing"

	"github.com/untether-go/untether/engines"
)

// A ResumeCase is a text for ParseResume and the id it must find there;
// an empty Want means it must find none.
type ResumeCase struct {
	Name string
	Text string
	Want string
}

// Resume checks the resume line of eng, whose prefix is the command before
// the id ("claude --resume"): ResumeLine writes "<prefix> <id>" for each
// of ids, and ParseResume finds the id again at the end of a bot message.
// ParseResume must also find the line of ids[0] wherever a chat may show
// it and take nothing for an id that is not one, in these cases and in the
// engine's own (such as another engine's line).
func Resume(t *testing.T, eng engines.Engine, prefix string, ids []string, own ...ResumeCase) {
	t.Run("round trip", func(t *testing.T) {
		for _, id := range ids {
			line := eng.ResumeLine(id)
			if want := prefix + " " + id; line != want {
				t.Errorf("ResumeLine(%q) = %q, want %q", id, line, want)
			}
			footer := "Done. Created hello.txt.\n\n" + line + "\n"
			if got, ok := eng.ParseResume(footer); !ok || got != id {
				t.Errorf("ParseResume(ResumeLine(%q)) = %q, %v", id, got, ok)
			}
		}
	})
	id := ids[0]
	cases := append([]ResumeCase{
		{Name: "alone", Text: prefix + " " + id, Want: id},
		{Name: "in footer", Text: "answer\n\n⏱ 12s · " + prefix + " " + id, Want: id},
		{Name: "in code span", Text: "`" + prefix + " " + id + "`", Want: id},
		{Name: "followed by period", Text: "run " + prefix + " " + id + ".", Want: id},
		{Name: "last wins", Text: prefix + " old\n" + prefix + " new", Want: "new"},
		{Name: "invalid last keeps earlier", Text: prefix + " good\n" + prefix + " -bad", Want: "good"},
		{Name: "tab separator", Text: prefix + "\t" + id, Want: id},
		{Name: "path before", Text: "/usr/bin/" + prefix + " " + id, Want: id},
		{Name: "none", Text: "nothing to see"},
		{Name: "empty", Text: ""},
		{Name: "no id", Text: prefix},
		{Name: "no space", Text: prefix + id},
		{Name: "flag not id", Text: prefix + " --model x"},
		{Name: "longer word", Text: "my" + prefix + " " + id},
	}, own...)
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			got, ok := eng.ParseResume(tt.Text)
			if got != tt.Want || ok != (tt.Want != "") {
				t.Errorf("ParseResume(%q) = %q, %v; want %q, %v", tt.Text, got, ok, tt.Want, tt.Want != "")
			}
		})
	}
}
