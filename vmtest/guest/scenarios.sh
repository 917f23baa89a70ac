#!/bin/bash
# The deployment scenarios, run in the guest as the unprivileged user
# tester, through systemctl --user, against fake bots (fakebot) and the
# offline test engine image. Each step appends PASS or FAIL to results.txt.
set -u
V=/vmtest
OUT=$V/out
R=$OUT/results.txt
IMAGE=localhost/untether-testengine-vmtest:latest
TOKEN1=123456789:AAE-untether-telegramtest-token-000
TOKEN2=987654321:AAE-untether-telegramtest-token-dev
ME=4242         # the user, and the private chat with each bot
GROUP=-100777   # a second chat, routed to a second staging project
B1=$HOME/bot1
B2=$HOME/bot2

pass() { echo "PASS $*" | tee -a "$R"; }
fail() { echo "FAIL $*" | tee -a "$R"; }
info() { echo "INFO $*" | tee -a "$R"; }
want() { [[ -z $(cat "$V/scenarios") ]] || grep -qw "$1" "$V/scenarios"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# until SECONDS CMD...: retries CMD every half second.
until_ok() {
	local end=$((SECONDS + $1))
	shift
	while ((SECONDS < end)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}
active() { [[ $(systemctl --user is-active "$1") == active ]]; }
# new_container BEFORE: waits for a container not in BEFORE, prints its id.
new_container() {
	local before=$1 end=$((SECONDS + 90)) id
	while ((SECONDS < end)); do
		for id in $(podman ps -q --no-trunc); do
			if ! grep -q "$id" <<<"$before"; then
				echo "$id"
				return 0
			fi
		done
		sleep 0.3
	done
	return 1
}
count() { fakebot count -dir "$1" -chat "$2" -contains "$3"; }

podman load -q -i "$V/testengine.tar" >/dev/null || fail "0 podman load of the test image"
systemctl --user enable --now podman.socket || fail "0 enable podman.socket"
# The tokens go in files: systemd logs a unit's command line.
printf '%s\n' "$TOKEN1" >"$HOME/token1"
printf '%s\n' "$TOKEN2" >"$HOME/token2"
systemd-run --user -q --unit fakebot1 /usr/local/bin/fakebot serve -dir "$B1" -token-file "$HOME/token1"
systemd-run --user -q --unit fakebot2 /usr/local/bin/fakebot serve -dir "$B2" -token-file "$HOME/token2" -username untether_dev_bot
until_ok 30 test -s "$B1/url" && until_ok 30 test -s "$B2/url" || fail "0 fake bots did not start"
URL1=$(cat "$B1/url")
URL2=$(cat "$B2/url")

# 1. untether setup through a pseudo-terminal, with scripted answers.
s1() {
	local log=$OUT/setup.log fifo=$HOME/setup.in
	untether run --config "$HOME/none.toml" >"$OUT/run-noconfig.txt" 2>&1
	if grep -q "untether setup" "$OUT/run-noconfig.txt"; then pass "1 run without config points to untether setup"; else fail "1 run without config: $(head -3 "$OUT/run-noconfig.txt")"; fi

	: >"$log"
	rm -f "$fifo"
	mkfifo "$fifo"
	seen() { grep -q "$1" "$log"; }
	feeder() {
		until_ok 120 seen 'Bot token' && printf '%s\n' "$TOKEN1"
		until_ok 120 seen 'Now send any message' && fakebot say -dir "$B1" -chat $ME -text hello >/dev/null
		until_ok 120 seen 'Project folder' && printf '~/src/demo\n'
		until_ok 60 seen 'Default engine' && printf 'claude\n'
		until_ok 60 seen 'user service' && printf 'y\n'
		# Hold the terminal's input open until setup is done; exec, so that
		# killing the feeder ends it.
		exec sleep 600
	}
	feeder >"$fifo" 2>/dev/null &
	local feeder_pid=$!
	timeout 600 script -qfec "untether setup --api-url $URL1 --image $IMAGE --memory 256MiB --pids 64 --cpus 0.5 --wait 2m" "$log" <"$fifo" >/dev/null
	local rc=$?
	kill $feeder_pid 2>/dev/null
	wait $feeder_pid 2>/dev/null
	if [[ $rc == 0 ]]; then pass "1 setup through a terminal exits 0"; else fail "1 setup exits $rc: $(tail -5 "$log" | tr '\r\n' '  ')"; fi
	if grep -q "your user id is $ME" "$log"; then pass "1 setup took the user id from getUpdates"; else fail "1 setup did not learn the user id"; fi
	if [[ -f $HOME/.untether/untether.toml ]] && grep -q "allowed_user_ids = \[$ME\]" "$HOME/.untether/untether.toml"; then pass "1 setup wrote the config"; else fail "1 no config with the user id"; fi
	if [[ $(systemctl --user is-enabled untether.service) == enabled ]] && active untether.service; then pass "1 untether.service enabled and active"; else fail "1 untether.service: $(systemctl --user is-enabled untether.service) $(systemctl --user is-active untether.service)"; fi
	if ! grep -q "$TOKEN1" "$HOME/.untether/untether.toml"; then pass "1 the token is not in the config"; else fail "1 the token is in the config"; fi
	# The greeting was confirmed by setup: the bridge must not answer it.
	sleep 3
	local n
	n=$(fakebot dump -dir "$B1" -chat $ME | grep -c '"FromBot": true' || true)
	info "1 bot messages after setup: $n (the startup message only)"
}

# 2. Active only after the first getUpdates; limits in the container's cgroup.
s2() {
	systemctl --user stop untether.service
	fakebot down -dir "$B1" -text on >/dev/null
	systemctl --user start --no-block untether.service
	sleep 8
	local st
	st=$(systemctl --user is-active untether.service)
	if [[ $st != active ]]; then pass "2 not active while Telegram is down ($st)"; else fail "2 active although no getUpdates succeeded"; fi
	fakebot down -dir "$B1" -text off >/dev/null
	if until_ok 90 active untether.service; then pass "2 active once Telegram answers"; else fail "2 not active 90s after Telegram came back"; fi

	local before t0 t1 cid pid cg
	before=$(podman ps -q --no-trunc)
	rm -f "$HOME/src/demo/.fakeengine-calls.jsonl"
	t0=$(now_ms)
	fakebot say -dir "$B1" -chat $ME -text "fake:sleep=20s fake:answer=ANSWER-TWO" >/dev/null
	if until_ok 120 test -s "$HOME/src/demo/.fakeengine-calls.jsonl"; then
		t1=$(now_ms)
		info "2 message -> first engine event: $((t1 - t0)) ms"
		echo "$((t1 - t0))" >"$OUT/first-event-ms.txt"
	else
		fail "2 the engine did not start within 120s"
	fi
	if ! cid=$(new_container "$before"); then
		fail "2 no container for the run"
		return
	fi
	pid=$(podman inspect -f '{{.State.Pid}}' "$cid")
	cg=/sys/fs/cgroup$(cut -d: -f3 "/proc/$pid/cgroup")
	# crun may put the process one level below the container's cgroup.
	[[ $(cat "$cg/memory.max" 2>/dev/null) == max ]] && cg=$(dirname "$cg")
	local mem pids cpu
	mem=$(cat "$cg/memory.max") pids=$(cat "$cg/pids.max") cpu=$(cat "$cg/cpu.max")
	info "2 container cgroup $cg: memory.max=$mem pids.max=$pids cpu.max=$cpu"
	if [[ $mem == 268435456 ]]; then pass "2 memory.max 256MiB"; else fail "2 memory.max is $mem"; fi
	if [[ $pids == 64 ]]; then pass "2 pids.max 64"; else fail "2 pids.max is $pids"; fi
	if [[ $cpu == "50000 100000" ]]; then pass "2 cpu.max 0.5 cpu"; else fail "2 cpu.max is $cpu"; fi
	if podman inspect -f '{{.HostConfig.CgroupManager}} {{.State.Status}}' "$cid" >/dev/null && [[ $(podman info -f '{{.Host.Security.Rootless}}') == true ]]; then pass "2 the run's container is rootless"; else fail "2 not rootless"; fi
	if fakebot wait -dir "$B1" -chat $ME -contains ANSWER-TWO -timeout 120s >/dev/null; then pass "2 the answer arrives"; else fail "2 no answer"; fi
}

# 3. stop mid-run: exits within TimeoutStopSec, the container keeps running;
# start: the same run completes, one answer.
s3() {
	local before cid t0 el
	before=$(podman ps -q --no-trunc)
	fakebot say -dir "$B1" -chat $ME -text "fake:sleep=45s fake:answer=ANSWER-THREE" >/dev/null
	if ! cid=$(new_container "$before"); then
		fail "3 no container for the run"
		return
	fi
	sleep 2
	t0=$SECONDS
	systemctl --user stop untether.service
	el=$((SECONDS - t0))
	if ((el < 150)); then pass "3 stop took ${el}s (TimeoutStopSec=150)"; else fail "3 stop took ${el}s"; fi
	if podman ps -q --no-trunc | grep -q "$cid"; then pass "3 the container kept running"; else fail "3 the container stopped with the bridge"; fi
	systemctl --user start untether.service
	if fakebot wait -dir "$B1" -chat $ME -contains ANSWER-THREE -timeout 150s >/dev/null; then pass "3 the run completed after start"; else fail "3 no answer after start"; fi
	sleep 5
	local n
	n=$(count "$B1" $ME ANSWER-THREE)
	if [[ $n == 1 ]]; then pass "3 exactly one answer"; else fail "3 $n messages carry the answer"; fi
}

# 4. kill -s KILL: systemd restarts it after RestartSec; nothing lost or
# repeated.
s4() {
	local before cid r0 r1
	r0=$(systemctl --user show -p NRestarts --value untether.service)
	before=$(podman ps -q --no-trunc)
	fakebot say -dir "$B1" -chat $ME -text "fake:sleep=20s fake:answer=ANSWER-FOUR" >/dev/null
	cid=$(new_container "$before") || fail "4 no container for the run"
	systemctl --user kill -s KILL untether.service
	fakebot say -dir "$B1" -chat $ME -text "fake:answer=ANSWER-FOUR-B" >/dev/null
	sleep 1
	if until_ok 60 active untether.service; then pass "4 active again after SIGKILL"; else fail "4 not active 60s after SIGKILL"; fi
	r1=$(systemctl --user show -p NRestarts --value untether.service)
	if ((r1 > r0)); then pass "4 systemd restarted it (NRestarts $r0 -> $r1)"; else fail "4 NRestarts $r0 -> $r1"; fi
	local ok=1 w
	for w in ANSWER-FOUR ANSWER-FOUR-B; do
		fakebot wait -dir "$B1" -chat $ME -contains "$w" -timeout 150s >/dev/null || { fail "4 lost: no $w"; ok=0; }
	done
	sleep 5
	for w in ANSWER-FOUR ANSWER-FOUR-B; do
		local n
		n=$(count "$B1" $ME "$w")
		if [[ $w == ANSWER-FOUR ]]; then
			# ANSWER-FOUR-B contains ANSWER-FOUR: subtract it.
			n=$((n - $(count "$B1" $ME ANSWER-FOUR-B)))
		fi
		[[ $n == 1 ]] || { fail "4 repeated: $n answers $w"; ok=0; }
	done
	((ok)) && pass "4 both messages answered once"
}

# 5. staging and dev side by side: two configs, two bots, no crosstalk.
s5() {
	untether setup --config "$HOME/.untether-dev/untether.toml" --token "$TOKEN2" --api-url "$URL2" --user-id $ME \
		--project "$HOME/src/devproj" --engine claude --image $IMAGE --memory 256MiB --pids 64 --cpus 0.5 \
		--service </dev/null >"$OUT/setup-dev.log" 2>&1
	local rc=$?
	if [[ $rc == 0 ]] && active untether-dev.service && active untether.service; then pass "5 setup without a terminal: dev and staging active side by side"; else fail "5 dev setup exits $rc: $(tail -3 "$OUT/setup-dev.log" | tr '\n' ' ')"; return; fi
	fakebot say -dir "$B1" -chat $ME -text "fake:answer=STAGING-FIVE" >/dev/null
	fakebot say -dir "$B2" -chat $ME -text "fake:answer=DEV-FIVE" >/dev/null
	fakebot wait -dir "$B1" -chat $ME -contains STAGING-FIVE -timeout 150s >/dev/null || fail "5 staging did not answer"
	fakebot wait -dir "$B2" -chat $ME -contains DEV-FIVE -timeout 150s >/dev/null || fail "5 dev did not answer"
	sleep 3
	if [[ $(count "$B1" $ME DEV-FIVE) == 0 && $(count "$B2" $ME STAGING-FIVE) == 0 ]] &&
		! grep -q DEV-FIVE "$HOME/src/demo/.fakeengine-calls.jsonl" && ! grep -q STAGING-FIVE "$HOME/src/devproj/.fakeengine-calls.jsonl"; then
		pass "5 no crosstalk between the bots, bridges and projects"
	else
		fail "5 crosstalk"
	fi
}

# 8. release install of an rc, restart, healthcheck --version; rollback.
s8() {
	if untether release install 1.1.0-rc.1 --from "$V/release" >"$OUT/release.txt" 2>&1; then pass "8 release install 1.1.0-rc.1"; else fail "8 release install: $(tail -2 "$OUT/release.txt" | tr '\n' ' ')"; return; fi
	systemctl --user restart untether.service
	if untether healthcheck --wait 90s --version 1.1.0-rc.1 >>"$OUT/release.txt" 2>&1; then pass "8 healthcheck --version 1.1.0-rc.1 after restart"; else fail "8 healthcheck rc: $(tail -1 "$OUT/release.txt")"; fi
	if untether release rollback >>"$OUT/release.txt" 2>&1; then pass "8 release rollback"; else fail "8 rollback: $(tail -2 "$OUT/release.txt" | tr '\n' ' ')"; return; fi
	systemctl --user restart untether.service
	if untether healthcheck --wait 90s --version 1.0.0 >>"$OUT/release.txt" 2>&1; then pass "8 healthcheck --version 1.0.0 after rollback"; else fail "8 healthcheck after rollback: $(tail -1 "$OUT/release.txt")"; fi
}

# 9. OOM told truthfully: a hog is out of memory while another chat's run
# finishes; a child killed for memory is told; an outside podman kill is
# not called OOM.
s9() {
	printf '\n[projects.second]\npath = "%s"\nchat_id = %d\n' "$HOME/src/second" $GROUP >>"$HOME/.untether/untether.toml"
	mkdir -p "$HOME/src/second"
	systemctl --user restart untether.service
	until_ok 60 active untether.service || { fail "9 not active after adding a project"; return; }
	fakebot say -dir "$B1" -chat $ME -text "fake:oom" >/dev/null
	fakebot say -dir "$B1" -chat $GROUP -user $ME -text "fake:sleep=10s fake:answer=ANSWER-NINE" >/dev/null
	if fakebot wait -dir "$B1" -chat $ME -contains "Out of memory" -timeout 180s >/dev/null; then pass "9 the hog is reported out of memory"; else fail "9 the hog is not reported out of memory"; fi
	if fakebot wait -dir "$B1" -chat $GROUP -contains ANSWER-NINE -timeout 180s >/dev/null; then pass "9 the other chat's run finished"; else fail "9 the other chat's run did not finish"; fi
	# A process of the run (a build in the agent's shell tool) is killed for
	# memory while the agent lives on: the answer comes, and says so.
	fakebot say -dir "$B1" -chat $ME -text "fake:child-oom fake:answer=ANSWER-NINE-B" >/dev/null
	if fakebot wait -dir "$B1" -chat $ME -contains "ANSWER-NINE-B" -timeout 180s >/dev/null &&
		[[ $(count "$B1" $ME "a process in this run was killed for memory (limit 256 MiB)") == 1 ]]; then
		pass "9 a child killed for memory is told, the run answers"
	else
		fail "9 a child killed for memory: $(fakebot dump -dir "$B1" -chat $ME | grep -o '"Text": "[^"]*NINE-B[^"]*"' | head -1)"
	fi
	local before cid
	before=$(podman ps -q --no-trunc)
	fakebot say -dir "$B1" -chat $GROUP -user $ME -text "fake:sleep=60s fake:answer=ANSWER-NINE-C" >/dev/null
	if ! cid=$(new_container "$before"); then
		fail "9 no container for the third run"
		return
	fi
	sleep 2
	podman kill "$cid" >/dev/null
	sleep 15
	if [[ $(count "$B1" $GROUP "Out of memory") == 0 ]]; then pass "9 podman kill is not called out of memory"; else fail "9 podman kill is called out of memory"; fi
}

for s in 1 2 3 4 5 8 9; do
	if want "$s"; then
		echo "=== scenario $s ($(date +%T))"
		t=$SECONDS
		"s$s"
		info "scenario $s took $((SECONDS - t))s"
	fi
done

# What the bots saw, for the report.
for c in $ME $GROUP; do
	fakebot dump -dir "$B1" -chat "$c" >"$OUT/chat-staging-$c.json" 2>&1
	fakebot dump -dir "$B2" -chat "$c" >"$OUT/chat-dev-$c.json" 2>&1
done
