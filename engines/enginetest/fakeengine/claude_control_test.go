package main

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/untether-go/untether/engines"
	"github.com/untether-go/untether/engines/claude"
)

// TestClaudeControlSpeaksTheProtocol drives the fake's control protocol
// with the bridge's own codec: approve, and deny.
func TestClaudeControlSpeaksTheProtocol(t *testing.T) {
	for _, allow := range []bool{true, false} {
		_, p, err := claude.Engine{}.Session(engines.Request{Prompt: "create hello.txt containing hello"}, engines.SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		done := make(chan int, 1)
		go func() { done <- runClaudeControl(inR, outW); outW.Close() }()
		open, _ := p.Open()
		go inW.Write(open)

		var asks int
		var final engines.Completed
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			evs, w, err := p.Decode(sc.Bytes())
			if err != nil {
				t.Fatalf("decode %q: %v", sc.Text(), err)
			}
			if w != nil {
				go inW.Write(w)
			}
			for _, ev := range evs {
				switch e := ev.(type) {
				case engines.Ask:
					asks++
					b, err := p.Answer(e.ID, engines.Reply{Allow: allow})
					if err != nil {
						t.Fatal(err)
					}
					go inW.Write(b)
				case engines.Completed:
					final = e
					inW.Close() // the answer is complete: stdin ends
				}
			}
		}
		if code := <-done; code != 0 {
			t.Fatalf("exit %d", code)
		}
		want := "Done. Created hello.txt."
		if !allow {
			want = "The request was denied"
		}
		if asks != 1 || !final.OK || !strings.Contains(final.Answer, want) || final.Resume == "" {
			t.Errorf("allow=%v: %d asks, final %+v", allow, asks, final)
		}
	}
}
