package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// cronProjects are two projects for crons: web has a chat and topic, api
// none.
const cronProjects = tg + `
[projects.web]
path = "/w"
chat_id = -100
topic_id = 7
[projects.api]
path = "/a"
`

// cronTable is a valid [[triggers.crons]] in web, with more keys appended.
func cronTable(more string) string {
	return "\n[[triggers.crons]]\nid = 'nightly'\nschedule = '0 3 * * *'\nproject = 'web'\nprompt = 'go'\n" + more
}

func TestCronDefaults(t *testing.T) {
	c := mustParse(t, cronProjects+cronTable(""), testPath, env())
	want := []Cron{{ID: "nightly", Schedule: "0 3 * * *", Timezone: "UTC", Project: "web", Prompt: "go", ChatID: -100, TopicID: 7}}
	if !reflect.DeepEqual(c.Triggers.Crons, want) {
		t.Errorf("crons = %+v, want %+v", c.Triggers.Crons, want)
	}
	c = mustParse(t, cronProjects+cronTable("chat_id = -200"), testPath, env())
	if cr := c.Triggers.Crons[0]; cr.ChatID != -200 || cr.TopicID != 0 {
		t.Errorf("a cron's own chat_id takes the project's topic along: %+v", cr)
	}
	c = mustParse(t, cronProjects+"[triggers]\ncrons = [{id = 'a', schedule = '* * * * *', project = 'web', prompt = 'x'}]\n", testPath, env())
	if len(c.Triggers.Crons) != 1 || c.Triggers.Crons[0].ID != "a" {
		t.Errorf("inline crons = %+v", c.Triggers.Crons)
	}
	if c := mustParse(t, tg, testPath, env()); c.Triggers.Crons != nil {
		t.Errorf("crons without [triggers] = %+v", c.Triggers.Crons)
	}
}

var cronProblemCases = []struct {
	name string
	toml string
	want []string
}{
	{"unknown key", cronTable("colour = 'red'"), []string{"triggers.crons[1].colour"}},
	{"unknown key in triggers", "[triggers]\ncronz = []\n", []string{"triggers.cronz"}},
	{"crons not an array of tables", "[triggers]\ncrons = 'x'\n", []string{"triggers.crons"}},
	{"crons an array of strings", "[triggers]\ncrons = ['x']\n", []string{"triggers.crons"}},
	{"empty cron", "\n[[triggers.crons]]\n", []string{
		"triggers.crons[1].id", "triggers.crons[1].project", "triggers.crons[1].prompt", "triggers.crons[1].schedule",
	}},
	{"bad types", "\n[[triggers.crons]]\nid = 1\nschedule = 2\ntimezone = 3\nproject = 4\nengine = 5\nprompt = 6\nchat_id = '7'\ntopic_id = '8'\nrun_once = 'yes'\n",
		[]string{
			"triggers.crons[1].chat_id", "triggers.crons[1].engine", "triggers.crons[1].id", "triggers.crons[1].project",
			"triggers.crons[1].prompt", "triggers.crons[1].run_once", "triggers.crons[1].schedule", "triggers.crons[1].timezone",
			"triggers.crons[1].topic_id",
		}},
	{"bad id", strings.Replace(cronTable(""), "'nightly'", "'Nightly!'", 1), []string{"triggers.crons[1].id"}},
	{"same id twice", cronTable("") + cronTable("") + cronTable(""), []string{"triggers.crons[2].id", "triggers.crons[3].id"}},
	{"bad schedule", strings.Replace(cronTable(""), "0 3 * * *", "0 3 * *", 1), []string{"triggers.crons[1].schedule"}},
	{"bad timezone", cronTable("timezone = 'Mars/Olympus'"), []string{"triggers.crons[1].timezone"}},
	{"local timezone", cronTable("timezone = 'Local'"), []string{"triggers.crons[1].timezone"}},
	{"empty timezone", cronTable("timezone = ''"), []string{"triggers.crons[1].timezone"}},
	{"unknown project", strings.Replace(cronTable(""), "'web'", "'nope'", 1), []string{"triggers.crons[1].project"}},
	{"unknown engine", cronTable("engine = 'gpt'"), []string{"triggers.crons[1].engine"}},
	{"blank prompt", strings.Replace(cronTable(""), "'go'", "' '", 1), []string{"triggers.crons[1].prompt"}},
	{"project without chat", strings.Replace(cronTable(""), "'web'", "'api'", 1), []string{"triggers.crons[1].chat_id"}},
	{"topic without chat", cronTable("topic_id = 3"), []string{"triggers.crons[1].topic_id"}},
	{"zero chat", cronTable("chat_id = 0"), []string{"triggers.crons[1].chat_id"}},
	{"bad topic", cronTable("chat_id = -5\ntopic_id = -1"), []string{"triggers.crons[1].topic_id"}},
}

func TestCronProblems(t *testing.T) {
	if _, err := Parse([]byte("triggers = 1\n"+cronProjects), testPath, env()); !slices.Equal(problemKeys(t, err), []string{"triggers"}) {
		t.Errorf("triggers = 1: %v", err)
	}
	for _, tt := range cronProblemCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(cronProjects+tt.toml), testPath, env())
			if err == nil {
				t.Fatalf("Parse succeeded, want problems %q", tt.want)
			}
			if got := problemKeys(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problem keys = %q, want %q\n%v", got, tt.want, err)
			}
		})
	}
}

func TestCheckCronSchedule(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"* * * * *", ""},
		{"0 9 * * 1-5", ""},
		{" 0 9 * * 1-5 ", ""},
		{"*/15 0-6,22,23 1,15 */3 mon-fri", ""},
		{"0-30/10 9 ? JAN-jun SUN", ""},
		{"5/15 * * * *", ""},
		{"59 23 31 12 6", ""},
		{"", `must not be empty: write five fields, minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5"`},
		{"@daily", `"@daily": write five fields instead of a descriptor, e.g. "0 0 * * *" for @daily`},
		{"CRON_TZ=UTC 0 9 * * *", `"CRON_TZ=UTC 0 9 * * *": set the zone with timezone, not in the schedule`},
		{"0 9 * *", `"0 9 * *" has 4 fields, not 5: write five fields, minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5"`},
		{"0 0 9 * * *", `"0 0 9 * * *" has 6 fields, not 5`},
		{"60 * * * *", `"60 * * * *": minute 60 is out of range 0-59`},
		{"0 24 * * *", `"0 24 * * *": hour 24 is out of range 0-23`},
		{"0 0 0 * *", `"0 0 0 * *": day of month 0 is out of range 1-31`},
		{"0 0 * 13 *", `"0 0 * 13 *": month 13 is out of range 1-12`},
		{"0 9 * * 7", `"0 9 * * 7": day of week 7 is out of range 0-6 (Sunday is 0)`},
		{"0 9 * * mon-sun", `"0 9 * * mon-sun": the day of week range mon-sun runs backwards`},
		{"0 9 * * monday", `"0 9 * * monday": "monday" in the day of week field is not a number or a name such as "sun"`},
		{"x * * * *", `"x * * * *": "x" in the minute field is not a number`},
		{"*/0 * * * *", `"*/0 * * * *": the minute field's step "0" must be a whole number above 0`},
		{"1,,2 * * * *", `"1,,2 * * * *": "" in the minute field is not a number`},
		{"1-2-3 * * * *", `"1-2-3 * * * *": "2-3" in the minute field is not a number`},
		{"+5 * * * *", `"+5 * * * *": "+5" in the minute field is not a number`},
		{"*-5 * * * *", `"*-5 * * * *": "*" in the minute field is not a number`},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got := checkCronSchedule(tt.in)
			if tt.want == "" && got != "" || !strings.HasPrefix(got, tt.want) {
				t.Errorf("checkCronSchedule(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestKeyStringOfCrons(t *testing.T) {
	for _, tt := range []struct {
		parts []string
		want  string
	}{
		{[]string{"triggers", "crons", "[2]", "schedule"}, "triggers.crons[2].schedule"},
		{[]string{"projects", "my site", "path"}, `projects."my site".path`},
		{[]string{"projects", "[x]"}, `projects."[x]"`},
		{[]string{"[1]"}, `"[1]"`},
	} {
		if got := keyString(tt.parts...); got != tt.want {
			t.Errorf("keyString(%q) = %s, want %s", tt.parts, got, tt.want)
		}
	}
}

// The [[triggers.crons]] example, commented out in
// contrib/untether.example.toml, parses once uncommented.
func TestExampleCrons(t *testing.T) {
	data, err := os.ReadFile("../../contrib/untether.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n# [[triggers.crons]]\n")
	if !ok {
		t.Fatal("no commented-out [[triggers.crons]] in the example")
	}
	setting := regexp.MustCompile(`^# ([a-z_]+ = .*)$`)
	var b strings.Builder
	b.WriteString("[projects.test-claude]\npath = '/p'\nchat_id = -1001000000001\n[[triggers.crons]]\n")
	for _, line := range strings.Split(rest, "\n") {
		if m := setting.FindStringSubmatch(line); m != nil {
			b.WriteString(m[1] + "\n")
		}
	}
	c := mustParse(t, tg+b.String(), testPath, env())
	want := []Cron{{
		ID: "nightly-tests", Schedule: "0 3 * * mon-fri", Timezone: "Europe/Berlin", Project: "test-claude", Engine: "claude",
		Prompt: "Run the tests and fix what fails.", ChatID: -1001000000001,
	}}
	if !reflect.DeepEqual(c.Triggers.Crons, want) {
		t.Errorf("the example's crons = %+v, want %+v", c.Triggers.Crons, want)
	}
}
