package webhook

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRender(t *testing.T) {
	const body = `{"issue":{"number":1347,"id":1296269123,"title":"Crash","milestone":null,"labels":[{"name":"bug"},{"color":"red"}]},"ok":true,"ratio":0.5,"list":["a","b"]}`
	tests := []struct {
		name, tmpl, want string
	}{
		{"field", "{{ .issue.title }}", "Crash"},
		{"numbers as sent", "#{{ .issue.number }} {{ .issue.id }} {{ .ratio }}", "#1347 1296269123 0.5"},
		{"missing field", "[{{ .issue.assignee }}]", "[]"},
		{"below a missing field", "[{{ .pull_request.head.ref }}]", "[]"},
		{"null", "[{{ .issue.milestone }}]", "[]"},
		{"below a null", "[{{ .issue.milestone.title }}]", "[]"},
		{"below a string", "[{{ .issue.title.x }}]", "[]"},
		{"missing field in a range", "{{ range .issue.labels }}<{{ .name }}>{{ end }}", "<bug><>"},
		{"range over a missing field", "[{{ range .nope }}x{{ end }}]", "[]"},
		{"if over a missing field", "{{ if .nope.deep }}yes{{ else }}no{{ end }}", "no"},
		{"with", "{{ with .issue }}{{ .title }}{{ end }}{{ with .nope }}x{{ end }}", "Crash"},
		{"root variable", "{{ range .list }}{{ $.issue.title }}{{ . }}{{ end }}", "CrashaCrashb"},
		{"variable with fields", "{{ $i := .issue }}{{ $i.title }}{{ $i.nope.x }}", "Crash"},
		{"chain", "{{ (.issue).title }}", "Crash"},
		{"pipe into printf", `{{ .issue.title | printf "%q" }}`, `"Crash"`},
		{"printf of a missing field", `{{ printf "%s" .nope }}`, "%!s(<nil>)"},
		{"index", "{{ index .list 1 }}", "b"},
		{"boolean", "{{ .ok }}", "true"},
		{"define", `{{ define "t" }}<{{ .title }}>{{ end }}{{ template "t" .issue }}`, "<Crash>"},
		{"trimmed", "\n  {{ .issue.title }}  \n", "Crash"},
		{"only missing fields", "{{ .a }} {{ .b.c }}", ""},
	}
	doc := decode(t, body)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParseTemplate(tt.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			got, err := render(tmpl, doc)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("render = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderCut(t *testing.T) {
	long := strings.Repeat("é", MaxPrompt) // two bytes each
	tmpl, err := ParseTemplate("{{ range .list }}{{ $.s }}{{ end }}")
	if err != nil {
		t.Fatal(err)
	}
	list := make([]any, 1000)
	got, err := render(tmpl, map[string]any{"s": long, "list": list})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > MaxPrompt || len(got) < MaxPrompt-utf8.UTFMax || !utf8.ValidString(got) {
		t.Errorf("cut to %d bytes (valid UTF-8: %v), want at most %d", len(got), utf8.ValidString(got), MaxPrompt)
	}
}

func TestRenderError(t *testing.T) {
	tmpl, err := ParseTemplate("{{ index .list 5 }}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = render(tmpl, decode(t, `{"list":[1]}`))
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("template: template:")) {
		t.Errorf("render error = %v", err)
	}
}
