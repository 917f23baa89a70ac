package podman

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/untether-go/untether/sandbox"
)

// How often a meter reads a container's counters: its cgroup's files cost
// a few microseconds, the service's stats an API call. A line of output
// also asks for a reading (at most every pokeGap): an engine prints its
// last event just before it exits, so the last reading is that late.
const (
	fileEvery  = time.Second
	statsEvery = 2 * time.Second
	pokeGap    = 500 * time.Millisecond
	// percentOver is the least interval a CPU percentage is taken over.
	percentOver = time.Second
)

// source reads a container's counters: its cgroup's files on this host,
// or the service's stats when the cgroup is elsewhere.
type source interface {
	read(ctx context.Context) (reading, error)
}

type filesSource struct{ *cgroupFiles }

func (f filesSource) read(context.Context) (reading, error) { return f.cgroupFiles.read() }

// statsStream reads the service's stats of one container from one
// streaming call, which the service answers with a report every
// statsEvery: over SSH that is one request for the whole run, not one per
// reading. Current memory and CPU time, no peak (the meter keeps the
// highest it saw) and no OOM count. When the container stops, Podman 4.3
// keeps the stream open with reports of zero memory and CPU time: such a
// report after real ones, a stream silent for staleAfter, or its end
// fail a read with errNoCgroup.
type statsStream struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	last  reading
	have  bool
	ended error
}

// staleAfter is how long a stream of stats may be silent before its
// container is taken to have stopped.
const staleAfter = 3 * statsEvery

// errNoReading: the stream gave no report yet.
var errNoReading = errors.New("no stats yet")

// openStats starts the stream of container id's stats; close ends it.
func openStats(ctx context.Context, api *client, id string) *statsStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &statsStream{cancel: cancel, done: make(chan struct{})}
	go s.follow(ctx, api, id)
	return s
}

func (s *statsStream) follow(ctx context.Context, api *client, id string) {
	defer close(s.done)
	q := url.Values{"stream": {"true"}, "interval": {strconv.Itoa(int(statsEvery / time.Second))}, "containers": {id}}
	req, err := api.request(ctx, http.MethodGet, "/containers/stats", q, nil)
	var resp *http.Response
	if err == nil {
		resp, err = api.do(req)
	}
	if err != nil {
		if notFound(err) {
			err = fmt.Errorf("%w: %w", errNoCgroup, err)
		}
		s.end(fmt.Errorf("stats: %w", err))
		return
	}
	defer closeBody(resp.Body)
	dec := json.NewDecoder(resp.Body)
	for {
		var rep struct {
			Error json.RawMessage
			Stats []struct {
				MemUsage uint64
				CPUNano  uint64
			}
		}
		if err := dec.Decode(&rep); err != nil {
			// The service ends the stream when the container stops.
			s.end(fmt.Errorf("stats ended: %w: %w", errNoCgroup, err))
			return
		}
		if (len(rep.Error) > 0 && string(rep.Error) != "null") || len(rep.Stats) == 0 {
			s.end(fmt.Errorf("stats: %w", errNoCgroup))
			return
		}
		st := rep.Stats[0]
		if st.MemUsage == 0 && st.CPUNano == 0 {
			s.mu.Lock()
			stopped := s.have
			s.mu.Unlock()
			if stopped {
				s.end(fmt.Errorf("stats: the container stopped: %w", errNoCgroup))
				return
			}
			continue // not running yet
		}
		s.mu.Lock()
		s.last = reading{at: time.Now(), memory: int64(st.MemUsage), cpu: time.Duration(st.CPUNano)}
		s.have = true
		s.mu.Unlock()
	}
}

func (s *statsStream) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = err
}

// read returns the newest report; it makes no call.
func (s *statsStream) read(context.Context) (reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ended != nil:
		return reading{}, s.ended
	case !s.have:
		return reading{}, errNoReading
	case time.Since(s.last.at) > staleAfter:
		return reading{}, fmt.Errorf("stats: no report for %s: %w", staleAfter, errNoCgroup)
	}
	return s.last, nil
}

// close ends the stream and waits for its goroutine.
func (s *statsStream) close() {
	s.cancel()
	<-s.done
}

// meter follows what one container uses while its run is followed here:
// the live figures for /status and a stalled run's notice, and the run's
// totals for its Result. Its goroutine is started by start and ended by
// finish or stop; poke, usage and vanished are safe from any goroutine.
type meter struct {
	r     *Runner
	id    string
	name  string
	limit int64 // the spec's memory limit, for sources that do not say
	log   *slog.Logger

	poked    chan struct{}
	vanished chan struct{} // closed once readings that worked fail: the cgroup went away
	vanish   sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	started  bool // owned by the caller of start, finish and stop

	// readMu makes one reading at a time (a source is not safe for
	// concurrent use); it is taken before mu.
	readMu sync.Mutex
	mu     sync.Mutex
	src    source // nil until located
	closed bool   // src is closed: finish or stop ran
	u      sandbox.Usage
	seen   bool
	base   reading // the reading CPUPercent is taken from
}

// newMeter returns a meter of container id (named name) that does not
// read yet: lines may poke it before start.
func (r *Runner) newMeter(id, name string, limit int64, log *slog.Logger) *meter {
	ctx, cancel := context.WithCancel(context.Background())
	return &meter{
		r: r, id: id, name: name, limit: limit, log: log,
		poked: make(chan struct{}, 1), vanished: make(chan struct{}),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
}

// start finds the container's counters and reads them until finish or
// stop. The meter is then known by the container's name to Usage.
func (m *meter) start() {
	m.started = true
	m.r.meters.Store(m.name, m)
	go m.loop()
}

func (m *meter) loop() {
	defer close(m.done)
	src, every := m.locate()
	m.mu.Lock()
	m.src = src
	m.mu.Unlock()
	if f, ok := src.(filesSource); ok && f.v2 {
		// An OOM kill is read the moment the kernel tells of it.
		stop, err := watchFile(filepath.Join(f.mem, "memory.events"), m.flush)
		if err != nil {
			m.log.Debug("memory events not watched; reading them every second", "err", err)
		} else {
			defer stop()
		}
	}
	m.read(src, every)
}

// read reads src every so often, and when poked, until the meter ends.
func (m *meter) read(src source, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	// A poke within pokeGap of the last reading is put off, not dropped:
	// what the output told of (a process killed, say) is read soon after.
	for {
		m.readMu.Lock()
		m.sample(src)
		m.readMu.Unlock()
		last := time.Now()
		var later <-chan time.Time
	wait:
		for {
			select {
			case <-m.ctx.Done():
				return
			case <-t.C:
				break wait
			case <-later:
				break wait
			case <-m.poked:
				gap := pokeGap - time.Since(last)
				if gap <= 0 {
					break wait
				}
				if later == nil {
					later = time.After(gap)
				}
			}
		}
	}
}

// flush takes a reading at once, whatever the time since the last one:
// the container's output closed, so its processes are ending and its
// cgroup may go any moment. Safe from any goroutine; nil-safe.
func (m *meter) flush() {
	if m == nil {
		return
	}
	m.readMu.Lock()
	defer m.readMu.Unlock()
	m.mu.Lock()
	src, closed := m.src, m.closed
	m.mu.Unlock()
	if src != nil && !closed {
		m.sample(src)
	}
}

// locate picks the source: the cgroup's files when they are on this host,
// else the service's stats.
func (m *meter) locate() (source, time.Duration) {
	ctx, cancel := context.WithTimeout(m.ctx, cleanupTimeout)
	defer cancel()
	data, err := m.r.inspect(ctx, m.id)
	if err == nil && data.State != nil {
		m.r.mu.Lock()
		version := m.r.host.CgroupVersion
		m.r.mu.Unlock()
		files, ferr := locateCgroup(cgroupFS, version, data.State.CgroupPath)
		if ferr == nil {
			return filesSource{files}, fileEvery
		}
		m.log.Debug("container cgroup not readable here; reading podman's stats", "err", ferr)
	}
	return openStats(m.ctx, m.r.api, m.id), statsEvery
}

// sample takes one reading into the totals.
func (m *meter) sample(src source) {
	ctx, cancel := context.WithTimeout(m.ctx, statsEvery)
	defer cancel()
	rd, err := src.read(ctx)
	if err != nil {
		m.mu.Lock()
		seen := m.seen
		m.mu.Unlock()
		if errors.Is(err, errNoCgroup) && seen {
			m.vanish.Do(func() { close(m.vanished) })
		} else if m.ctx.Err() == nil {
			m.log.Debug("read container usage", "err", err)
		}
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(rd)
}

// add folds rd into the totals. Called with mu held.
func (m *meter) add(rd reading) {
	u := &m.u
	u.Memory = rd.memory
	u.PeakMemory = max(u.PeakMemory, rd.peak, rd.memory)
	u.MemoryLimit = rd.limit
	if u.MemoryLimit == 0 {
		u.MemoryLimit = m.limit
	}
	u.CPU = max(u.CPU, rd.cpu)
	u.OOMKills = max(u.OOMKills, rd.oomKills)
	if !m.seen {
		m.seen, m.base = true, rd
		return
	}
	if span := rd.at.Sub(m.base.at); span >= percentOver {
		u.CPUPercent = 100 * float64(rd.cpu-m.base.cpu) / float64(span)
		m.base = rd
	}
}

// poke asks for a reading soon. Never blocks; nil-safe.
func (m *meter) poke() {
	if m == nil {
		return
	}
	select {
	case m.poked <- struct{}{}:
	default:
	}
}

// vanishedC is closed once the container's counters, read before, are
// gone: its processes ended, or it was removed. Nil-safe (never).
func (m *meter) vanishedC() <-chan struct{} {
	if m == nil {
		return nil
	}
	return m.vanished
}

// local reports whether the meter notices at once when the container's
// processes end: it reads the container's cgroup on this host, or follows
// the service's stream of its stats. Nil-safe.
func (m *meter) local() bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.src.(type) {
	case filesSource, *statsStream:
		return true
	}
	return false
}

// usage returns the totals so far; ok is false before the first reading.
func (m *meter) usage() (sandbox.Usage, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.u, m.seen
}

// stop ends the readings and forgets the meter. Idempotent; nil-safe.
func (m *meter) stop() {
	if m == nil || !m.started {
		return
	}
	m.halt()
	m.readMu.Lock()
	defer m.readMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	switch src := m.src.(type) {
	case filesSource:
		src.close()
	case *statsStream:
		src.close()
	}
}

// halt ends the readings' goroutine and forgets the meter; the cgroup's
// files stay open for a last reading.
func (m *meter) halt() {
	m.cancel()
	<-m.done
	m.r.meters.CompareAndDelete(m.name, m)
}

// finish ends the readings once the container's processes ended, reads
// the cgroup one last time (it is often still there) and returns the
// run's totals, nil when nothing could be read.
func (m *meter) finish() *sandbox.Usage {
	if m == nil || !m.started {
		return nil
	}
	m.halt()
	m.readMu.Lock()
	defer m.readMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	switch src := m.src.(type) {
	case filesSource:
		if rd, err := src.cgroupFiles.read(); err == nil {
			m.add(rd)
			m.u.Complete = true
		}
		src.close()
	case *statsStream:
		src.close()
	}
	if !m.seen {
		return nil
	}
	u := m.u
	u.Memory, u.CPUPercent = 0, 0
	return &u
}

// Usage returns the live usage of the container named name while a Run or
// Reattach of this Runner follows it; ok is false for any other container
// and before its first reading. Safe for concurrent use.
func (r *Runner) Usage(name string) (sandbox.Usage, bool) {
	v, ok := r.meters.Load(name)
	if !ok {
		return sandbox.Usage{}, false
	}
	return v.(*meter).usage()
}
