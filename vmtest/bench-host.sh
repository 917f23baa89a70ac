#!/usr/bin/env bash
# The host side of the vmtest's "message -> first engine event" figure:
# the same bridge, fake bot and test engine image, on this host's rootful
# Podman (a private service), so the guest's number can be read as a ratio.
# Prints the milliseconds from a user's message to the fake engine's first
# write, for N runs (default 5). Run as root after `make vmtest` built the
# image (or `go run ./vmtest/saveimage -out /dev/null`).
set -euo pipefail
n=${1:-5}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$work/untether" ./cmd/untether
CGO_ENABLED=0 go build -o "$work/fakebot" ./vmtest/fakebot
# The ulimits the container tests use (internal/podmantest): podman's
# defaults can exceed a container host's hard nofile limit.
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$work/containers.conf"
CONTAINERS_CONF=$work/containers.conf podman system service --time=0 "unix://$work/podman.sock" &
pids+=($!)
"$work/fakebot" serve -dir "$work/bot" &
pids+=($!)
for _ in $(seq 50); do [[ -S $work/podman.sock && -s $work/bot/url ]] && break; sleep 0.2; done
mkdir -p "$work/demo"
cat >"$work/untether.toml" <<TOML
instance = "vmbench"
default_engine = "claude"
default_project = "demo"
[transports.telegram]
bot_token = "123456789:AAE-untether-telegramtest-token-000"
api_url = "$(cat "$work/bot/url")"
allowed_user_ids = [4242]
poll_timeout = "2s"
[projects.demo]
path = "$work/demo"
[sandbox]
podman_url = "unix://$work/podman.sock"
memory = "256MiB"
pids = 64
cpus = 0.5
[sandbox.images]
claude = "localhost/untether-testengine-vmtest:latest"
TOML
"$work/untether" run --config "$work/untether.toml" 2>"$work/bridge.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "untether started" "$work/bridge.log" && break; sleep 0.2; done
for i in $(seq "$n"); do
	rm -f "$work/demo/.fakeengine-calls.jsonl"
	t0=$(date +%s%N)
	"$work/fakebot" say -dir "$work/bot" -chat 4242 -text "fake:answer=BENCH-$i" >/dev/null
	for _ in $(seq 6000); do [[ -s $work/demo/.fakeengine-calls.jsonl ]] && break; sleep 0.01; done
	[[ -s $work/demo/.fakeengine-calls.jsonl ]] || { echo "no engine event in 60s; the bridge's log:" >&2; tail -20 "$work/bridge.log" >&2; exit 1; }
	t1=$(date +%s%N)
	echo "run $i: message -> first engine event $(((t1 - t0) / 1000000)) ms"
	"$work/fakebot" wait -dir "$work/bot" -chat 4242 -contains "BENCH-$i" -timeout 60s >/dev/null
done
