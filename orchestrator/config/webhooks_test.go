package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWebhookSecretSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "untether.toml")
	for name, content := range map[string]string{"gh.secret": "\n " + testWebhookSecret + " \n", "empty": "\n", "short": "abc\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		keys    string
		env     []string
		want    string // the secret, or the key path of the expected problem
		wantErr bool
	}{
		{"literal", `secret = "` + testWebhookSecret + `"`, nil, testWebhookSecret, false},
		{"literal with spaces (GitHub allows them)", `secret = "It's a Secret to Everybody"`, nil, "It's a Secret to Everybody", false},
		{"file", `secret_file = "gh.secret"`, nil, testWebhookSecret, false},
		{"env", `secret_env = "GITHUB_WEBHOOK_SECRET"`, []string{"GITHUB_WEBHOOK_SECRET", " " + testWebhookSecret + "\n"}, testWebhookSecret, false},
		{"bearer", "auth = 'bearer'\nsecret = '" + testWebhookSecret + "'", nil, testWebhookSecret, false},
		{"none", ``, nil, "triggers.webhooks[1].secret", true},
		{"two sources", `secret = "` + testWebhookSecret + `"` + "\nsecret_env = 'X'", []string{"X", "y"}, "triggers.webhooks[1].secret", true},
		{"file and env", "secret_file = 'gh.secret'\nsecret_env = 'X'", nil, "triggers.webhooks[1].secret_file", true},
		{"empty literal", `secret = ""`, nil, "triggers.webhooks[1].secret", true},
		{"short literal", `secret = "hunter2"`, nil, "triggers.webhooks[1].secret", true},
		{"short file", `secret_file = "short"`, nil, "triggers.webhooks[1].secret_file", true},
		{"bearer with spaces", "auth = 'bearer'\nsecret = 'It is a Secret to Everybody'", nil, "triggers.webhooks[1].secret", true},
		{"control character", `secret = "` + testWebhookSecret + `\t"`, nil, "triggers.webhooks[1].secret", true},
		{"missing file", `secret_file = "nope"`, nil, "triggers.webhooks[1].secret_file", true},
		{"empty file", `secret_file = "empty"`, nil, "triggers.webhooks[1].secret_file", true},
		{"unset variable", `secret_env = "GITHUB_WEBHOOK_SECRET"`, nil, "triggers.webhooks[1].secret_env", true},
		{"bad variable name", `secret_env = "$GITHUB_WEBHOOK_SECRET"`, nil, "triggers.webhooks[1].secret_env", true},
		{"wrong type", `secret = 1`, nil, "triggers.webhooks[1].secret", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tg + webProject + listen + "[[triggers.webhooks]]\nid = 'a'\npath = '/a'\nproject = 'web'\nprompt_template = 'go'\n" + tt.keys + "\n"
			c, err := Parse([]byte(data), path, env(tt.env...))
			if tt.wantErr {
				if got := problemKeys(t, err); !slices.Equal(got, []string{tt.want}) {
					t.Errorf("problem keys = %q, want [%q]\n%v", got, tt.want, err)
				}
				if strings.Contains(err.Error(), testWebhookSecret) {
					t.Errorf("error holds the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			w := c.Triggers.Webhooks[0]
			if got := w.Secret.Reveal(); got != tt.want {
				t.Errorf("secret = %q, want %q", got, tt.want)
			}
			if s := fmt.Sprintf("%v %+v %#v", w, c.Triggers, c); strings.Contains(s, tt.want) {
				t.Errorf("printing the config shows the secret: %s", s)
			}
		})
	}
}

func TestTriggers(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9876", "localhost:9876", "[::1]:9876", "0.0.0.0:9876", "192.168.1.20:80", "[::]:65535"} {
		c := mustParse(t, tg+webProject+"[triggers]\nlisten = '"+addr+"'\n"+hook(""), testPath, env())
		if c.Triggers.Listen != addr {
			t.Errorf("listen = %q, want %q", c.Triggers.Listen, addr)
		}
	}
	// listen alone is no problem: the crons need none, and nothing listens.
	c := mustParse(t, tg+listen, testPath, env())
	if c.Triggers.Listen != "127.0.0.1:9876" || c.Triggers.Webhooks != nil {
		t.Errorf("triggers = %+v", c.Triggers)
	}
	c = mustParse(t, tg+webProject+listen+hook("")+hook("id = 'b'\npath = '/b'\nevent_filter = []"), testPath, env())
	want := []Webhook{
		{ID: "a", Path: "/a", Secret: testWebhookSecret, Auth: WebhookAuthHMAC, Project: "web", PromptTemplate: "go {{ .x }}"},
		{ID: "b", Path: "/b", Secret: testWebhookSecret, Auth: WebhookAuthHMAC, Project: "web", PromptTemplate: "go {{ .x }}", EventFilter: []string{}},
	}
	if fmt.Sprintf("%#v", c.Triggers.Webhooks) != fmt.Sprintf("%#v", want) {
		t.Errorf("webhooks = %#v, want %#v", c.Triggers.Webhooks, want)
	}
}

func TestKeyString(t *testing.T) {
	tests := []struct {
		parts []string
		want  string
	}{
		{[]string{"triggers", "webhooks[2]", "path"}, "triggers.webhooks[2].path"},
		{[]string{"projects", "my site", "path"}, `projects."my site".path`},
		{[]string{"projects", "a[0]"}, `projects."a[0]"`},
		{[]string{"projects", "a[b]"}, `projects."a[b]"`},
	}
	for _, tt := range tests {
		if got := keyString(tt.parts...); got != tt.want {
			t.Errorf("keyString(%q) = %s, want %s", tt.parts, got, tt.want)
		}
	}
}
