// Command mockapi serves the scripted model API of package mockapi on
// 127.0.0.1 until interrupted, to run a real engine CLI (on the host, or in
// its image with --network host) by hand against it. It prints the base URL
// on the first line of stdout, one line per request on stderr, and on exit
// writes the request log as JSONL when -log is given.
//
//	go run ./internal/mockapi/cmd/mockapi -mode normal -log /tmp/requests.jsonl
//
// It is a development tool: nothing in the daemon runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/untether-go/untether/internal/mockapi"
)

func main() {
	mode := flag.String("mode", "normal", "normal, slow, err401, err429 or err500")
	delay := flag.Duration("delay", 500*time.Millisecond, "pause after every streamed event in slow mode")
	noReasoning := flag.Bool("no-reasoning", false, "leave out thinking / reasoning parts")
	logPath := flag.String("log", "", "write the request log here (JSONL) on exit")
	transcript := flag.String("transcript", mockapi.DefaultTranscript, "what /v1/audio/transcriptions answers")
	key := flag.String("transcription-key", "", "the bearer key /v1/audio/transcriptions requires (none if empty)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := mockapi.New(mockapi.Options{
		Mode: mockapi.Mode(*mode), Delay: *delay, NoReasoning: *noReasoning,
		Transcript: *transcript, TranscriptionKey: *key,
	})
	fmt.Println(s.URL())
	fmt.Fprintf(os.Stderr, "mockapi: listening on %s, mode %s\n", s.URL(), s.Mode())

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	seen := 0
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		reqs := s.Requests()
		for _, r := range reqs[seen:] {
			fmt.Fprintf(os.Stderr, "mockapi: %s %s -> %s\n", r.Method, r.Path, r.Answer)
		}
		seen = len(reqs)
	}
	s.Close()
	if *logPath != "" {
		if err := writeLog(*logPath, s.Requests()); err != nil {
			fmt.Fprintf(os.Stderr, "mockapi: %v\n", err)
			os.Exit(1)
		}
	}
}

func writeLog(path string, reqs []mockapi.Request) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write request log: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, r := range reqs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return fmt.Errorf("write request log: %w", err)
		}
	}
	return f.Close()
}
