// Command fakebot runs the Telegram-faithful fake Bot API server
// (orchestrator/telegram/telegramtest) as a process of its own, for the
// vmtest guest, where the bridge runs as a systemd service and the scenario
// script plays the user. `fakebot serve` serves the Bot API on 127.0.0.1 and
// a control socket; the other subcommands talk to that socket:
//
//	fakebot serve -dir D [-token T|-token-file F] [-username U]  # writes D/url, serves D/control.sock
//	fakebot say -dir D -chat C [-user U] -text T    # a user sends a message; prints its update id
//	fakebot wait -dir D -chat C -contains S [-timeout 2m]  # until a bot message contains S; prints it
//	fakebot count -dir D -chat C -contains S        # bot messages containing S
//	fakebot calls -dir D -method M                  # calls of a Bot API method so far
//	fakebot acked -dir D -update N                  # whether the bot confirmed update N
//	fakebot dump -dir D -chat C                     # the chat's messages, as JSON
//	fakebot down -dir D -text on|off                # every Bot API call fails (or works again)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/untether-go/untether/orchestrator/telegram/telegramtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fakebot serve|say|wait|count|calls|acked|dump -dir D ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "say", "wait", "count", "calls", "acked", "dump", "down":
		err = client(os.Args[1], os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakebot:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("dir", "", "state directory: url and control.sock")
	token := fs.String("token", telegramtest.DefaultToken, "the bot token the server accepts")
	tokenFile := fs.String("token-file", "", "read the token from this file instead (keeps it off the command line, which systemd logs)")
	username := fs.String("username", "untether_test_bot", "the bot's username")
	_ = fs.Parse(args)
	if *dir == "" {
		return errors.New("serve: -dir is required")
	}
	if *tokenFile != "" {
		data, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		*token = strings.TrimSpace(string(data))
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	tg := telegramtest.NewServer(telegramtest.Options{Token: *token, BotUsername: *username})
	defer tg.Close()

	sock := filepath.Join(*dir, "control.sock")
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: controlHandler(tg), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	// The url file appears last: when it is there, both servers are up.
	if err := os.WriteFile(filepath.Join(*dir, "url.tmp"), []byte(tg.URL()+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(*dir, "url.tmp"), filepath.Join(*dir, "url")); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sigs:
	case err := <-done:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// finalText is what a message shows now: its text, or a file's caption.
func finalText(m telegramtest.Message) string {
	if m.Kind != "" {
		return m.Caption
	}
	return m.Text
}

func controlHandler(tg *telegramtest.Server) http.Handler {
	mux := http.NewServeMux()
	intParam := func(r *http.Request, key string) int64 {
		v, _ := strconv.ParseInt(r.URL.Query().Get(key), 10, 64)
		return v
	}
	matching := func(v *telegramtest.Snapshot, chat int64, sub string) []telegramtest.Message {
		var out []telegramtest.Message
		for _, m := range v.BotMessages(chat) {
			if !m.Deleted && strings.Contains(finalText(m), sub) {
				out = append(out, m)
			}
		}
		return out
	}
	mux.HandleFunc("/say", func(w http.ResponseWriter, r *http.Request) {
		chat := intParam(r, "chat")
		user := intParam(r, "user")
		if user == 0 {
			user = chat
		}
		sent := tg.UserSays(chat, telegramtest.User{ID: user, FirstName: "Tester", Username: "tester"}, r.URL.Query().Get("text"))
		fmt.Fprintf(w, "%d %d\n", sent.UpdateID, sent.MessageID)
	})
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		chat, sub := intParam(r, "chat"), r.URL.Query().Get("contains")
		timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
		if err != nil {
			timeout = 2 * time.Minute
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		var found telegramtest.Message
		err = tg.WaitFor(ctx, func(v *telegramtest.Snapshot) bool {
			ms := matching(v, chat, sub)
			if len(ms) > 0 {
				found = ms[0]
				return true
			}
			return false
		})
		if err != nil {
			http.Error(w, fmt.Sprintf("no bot message in chat %d contains %q after %s", chat, sub, timeout), http.StatusGatewayTimeout)
			return
		}
		fmt.Fprintf(w, "%d %s\n", found.MessageID, finalText(found))
	})
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		chat, sub := intParam(r, "chat"), r.URL.Query().Get("contains")
		n := 0
		_ = tg.WaitFor(r.Context(), func(v *telegramtest.Snapshot) bool {
			n = len(matching(v, chat, sub))
			return true
		})
		fmt.Fprintf(w, "%d\n", n)
	})
	mux.HandleFunc("/calls", func(w http.ResponseWriter, r *http.Request) {
		method := r.URL.Query().Get("method")
		n := 0
		for _, c := range tg.Calls() {
			if strings.EqualFold(c.Method, method) && c.HTTPStatus == http.StatusOK {
				n++
			}
		}
		fmt.Fprintf(w, "%d\n", n)
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		tg.SetDown(r.URL.Query().Get("text") == "on")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/acked", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%v\n", tg.Acked(intParam(r, "update")))
	})
	mux.HandleFunc("/dump", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(tg.Messages(intParam(r, "chat")))
	})
	return mux
}

func client(cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	dir := fs.String("dir", "", "the serving fakebot's state directory")
	chat := fs.Int64("chat", 0, "chat id")
	user := fs.Int64("user", 0, "sender's user id (default: the chat id)")
	text := fs.String("text", "", "message text")
	contains := fs.String("contains", "", "text a bot message must contain")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long wait waits")
	method := fs.String("method", "", "Bot API method")
	update := fs.Int64("update", 0, "update id")
	_ = fs.Parse(args)
	if *dir == "" {
		return errors.New(cmd + ": -dir is required")
	}
	q := url.Values{}
	q.Set("chat", strconv.FormatInt(*chat, 10))
	q.Set("user", strconv.FormatInt(*user, 10))
	q.Set("text", *text)
	q.Set("contains", *contains)
	q.Set("timeout", timeout.String())
	q.Set("method", *method)
	q.Set("update", strconv.FormatInt(*update, 10))
	sock := filepath.Join(*dir, "control.sock")
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := hc.Get("http://fakebot/" + cmd + "?" + q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", cmd, strings.TrimSpace(string(body)))
	}
	_, err = os.Stdout.Write(body)
	return err
}
