#!/bin/bash
# Runs in the guest as root, from vmtest.service, after boot: installs the
# payload, runs the scenarios as the unprivileged user `tester`, then the
# scenarios that need root, and writes results and journal to the results
# disk. The unit powers the guest off afterwards.
set -u
V=/vmtest
OUT=$V/out
mkdir -p "$OUT"
chown tester:tester "$OUT"
R=$OUT/results.txt
: >"$R"
chown tester:tester "$R"
pass() { echo "PASS $*" | tee -a "$R"; }
fail() { echo "FAIL $*" | tee -a "$R"; }

install -m 0755 "$V/bin/untether" "$V/bin/fakebot" /usr/local/bin/
echo "INFO kernel $(uname -r), $(nproc) cpus, cgroup $(stat -fc %T /sys/fs/cgroup), podman $(podman --version | cut -d' ' -f3)" >>"$R"
for _ in $(seq 120); do
	systemctl is-active -q user@1000.service && break
	sleep 1
done

as_tester() {
	runuser -u tester -- env HOME=/home/tester USER=tester LOGNAME=tester PATH=/usr/local/bin:/usr/bin:/bin \
		XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus "$@"
}
# The scenarios get the guest's time budget less what the rest needs, so
# that results come back even when a step hangs.
budget=$(cat "$V/budget")
timeout --kill-after=10 "$budget" runuser -u tester -- env HOME=/home/tester USER=tester LOGNAME=tester \
	PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus \
	bash "$V/guest/scenarios.sh" 2>&1 | tee "$OUT/scenarios.log"
[[ ${PIPESTATUS[0]} == 124 ]] && fail "the scenarios ran out of their ${budget}s (the last step in scenarios.log hung)"

want() { [[ -z $(cat "$V/scenarios") ]] || grep -qw "$1" "$V/scenarios"; }

# 6. The journal holds the bridge's logs, and never a token.
if want 6; then
	n=$(journalctl -b --no-pager _SYSTEMD_USER_UNIT=untether.service | wc -l)
	if ((n > 5)); then pass "6 journal: $n lines of untether.service"; else fail "6 journal: only $n lines of untether.service"; fi
	leaks=$(journalctl -b --no-pager -o cat | grep -c -e 'AAE-untether-telegramtest-token-000' -e 'AAE-untether-telegramtest-token-dev' || true)
	if [[ $leaks == 0 ]]; then pass "6 journal: no bot token"; else fail "6 journal: a bot token appears $leaks times"; fi
fi

# 7. doctor fails clearly when the memory controller is not delegated: a
# drop-in takes it from the user manager.
if want 7; then
	as_tester systemctl --user stop untether.service untether-dev.service 2>/dev/null
	as_tester untether doctor >"$OUT/doctor-ok.txt" 2>&1
	drc=$?
	if [[ $drc == 0 ]]; then pass "7 doctor passes with memory delegated"; else fail "7 doctor fails with memory delegated (exit $drc): $(grep FAIL "$OUT/doctor-ok.txt" | head -3 | tr '\n' ' ')"; fi
	# Delegate= alone is not enough: with memory accounting on (systemd's
	# default) the slice enables the controller for the user manager anyway.
	mkdir -p /etc/systemd/system/user@1000.service.d /etc/systemd/system.conf.d
	printf '[Service]\nDelegate=\nDelegate=cpu pids\nMemoryAccounting=no\n' >/etc/systemd/system/user@1000.service.d/vmtest-nomemory.conf
	printf '[Manager]\nDefaultMemoryAccounting=no\n' >/etc/systemd/system.conf.d/vmtest-nomemory.conf
	systemctl daemon-reexec
	systemctl stop user@1000.service
	systemctl start user@1000.service
	sleep 3
	echo "INFO user@1000 controllers without the memory delegation: $(cat /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers)" >>"$R"
	# The fake bot went with the user manager: start it again, on a new port.
	as_tester systemd-run --user -q --unit fakebot1b /usr/local/bin/fakebot serve -dir /home/tester/bot1b -token-file /home/tester/token1
	for _ in $(seq 60); do [[ -s /home/tester/bot1b/url ]] && break; sleep 0.5; done
	sed -i "s|^api_url = .*|api_url = \"$(cat /home/tester/bot1b/url)\"|" /home/tester/.untether/untether.toml
	as_tester untether doctor >"$OUT/doctor-nomem.txt" 2>&1
	drc=$?
	if [[ $drc != 0 ]] && grep -q '^FAIL.*memory' "$OUT/doctor-nomem.txt"; then
		pass "7 doctor without memory delegation: $(grep '^FAIL.*memory' "$OUT/doctor-nomem.txt" | head -1)"
	else
		fail "7 doctor without memory delegation exits $drc: $(head -c 600 "$OUT/doctor-nomem.txt" | tr '\n' '|')"
	fi
	rm /etc/systemd/system/user@1000.service.d/vmtest-nomemory.conf /etc/systemd/system.conf.d/vmtest-nomemory.conf
	systemctl daemon-reexec
fi

echo DONE >>"$R"
journalctl -b --no-pager -o short-monotonic >"$OUT/journal.txt" 2>&1
tar -cf /dev/disk/by-id/virtio-results -C "$OUT" .
sync
