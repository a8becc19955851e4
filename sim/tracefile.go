package sim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/lbkit/lbkit/sim/trace"
)

// Trace is a recorded churn trace made ready to replay: read once,
// checked and summarised, and kept as compact records in a temporary
// file, so that any number of runs, in parallel, stream it again without
// holding it in memory. Memory does not grow with the trace's length,
// only with the endpoints live at once.
//
// A Trace is safe for concurrent use by multiple goroutines. Close
// removes its file; a Trace that is never closed removes it when it is
// garbage collected.
type Trace struct {
	f    *os.File
	size int64
	info TraceInfo
}

// TraceInfo summarises a trace.
type TraceInfo struct {
	// Events is the number of events; Instants the number of distinct
	// times among them.
	Events   int `json:"events"`
	Instants int `json:"instants"`
	// First and Last are the times of the first and last events.
	First time.Duration `json:"first"`
	Last  time.Duration `json:"last"`
	// PeakReady is the most endpoints ready at once; MeanReady the
	// time-weighted mean from the first event to the last.
	PeakReady int     `json:"peakReady"`
	MeanReady float64 `json:"meanReady"`
}

// ReadTrace reads a churn trace file, CSV or an EndpointSlice watch (see
// package sim/trace), into a Trace.
func ReadTrace(path string) (*Trace, error) { return ReadTraceProgress(path, nil) }

// ReadTraceProgress is ReadTrace that calls progress, if not nil, now and
// then with the fraction of the file read.
func ReadTraceProgress(path string, progress func(done float64)) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if st, err := f.Stat(); err == nil && progress != nil && st.Size() > 0 {
		r = &countingReader{r: f, size: st.Size(), progress: progress}
	}
	t, err := NewTrace(trace.NewReader(r, trace.SliceOptions{}))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// countingReader reports the fraction of a file read, every 4 MiB.
type countingReader struct {
	r        io.Reader
	n, last  int64
	size     int64
	progress func(float64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n-c.last >= 4<<20 || err != nil {
		c.last = c.n
		c.progress(min(float64(c.n)/float64(c.size), 1))
	}
	return n, err
}

// EventSource is a stream of trace events: trace.Reader is one. Next
// returns io.EOF after the last event.
type EventSource interface {
	Next() (trace.Event, error)
}

// NewTrace reads every event of src into a new Trace. The events must
// form a valid trace (trace.Validate); a trace without events is an
// error.
func NewTrace(src EventSource) (*Trace, error) {
	f, err := os.CreateTemp("", "lbsim-trace-*")
	if err != nil {
		return nil, fmt.Errorf("sim: trace spool: %w", err)
	}
	t := &Trace{f: f}
	// On Unix the file can go at once and lives while it is open; where
	// it cannot, Close or the garbage collector removes it.
	unlinked := os.Remove(f.Name()) == nil
	runtime.AddCleanup(t, func(f *os.File) {
		f.Close()
		if !unlinked {
			os.Remove(f.Name())
		}
	}, f)
	if err := t.spool(src); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// TraceOf makes a Trace of events held in memory, after checking them
// with trace.Validate.
func TraceOf(events []trace.Event) (*Trace, error) {
	if err := trace.Validate(events); err != nil {
		return nil, err
	}
	return NewTrace(&sliceSource{events: events})
}

// Info summarises the trace.
func (t *Trace) Info() TraceInfo { return t.info }

// Close removes the trace's file. A closed Trace cannot be replayed.
func (t *Trace) Close() error {
	name := t.f.Name()
	err := t.f.Close()
	os.Remove(name) // gone already where unlinking an open file works
	return err
}

// spool writes src's events to the file, checking them and summarising
// them on the way.
func (t *Trace) spool(src EventSource) error {
	w := bufio.NewWriterSize(t.f, 64<<10)
	var st traceSummer
	var prev time.Duration
	var buf []byte
	for {
		ev, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if st.info.Events > 0 && ev.At < prev {
			return fmt.Errorf("%w: event %d: time %v is before %v", trace.ErrOrder, st.info.Events, ev.At, prev)
		}
		st.add(ev)
		buf = appendRecord(buf[:0], ev, ev.At-prev)
		prev = ev.At
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("sim: trace spool: %w", err)
		}
	}
	if st.info.Events == 0 {
		return fmt.Errorf("%w: the trace has no events", ErrScenario)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("sim: trace spool: %w", err)
	}
	size, err := t.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("sim: trace spool: %w", err)
	}
	t.size = size
	t.info = st.done()
	return nil
}

// A record is the time since the previous event (uvarint), the kind (one
// byte), the endpoint and the zone (each a uvarint length and the bytes),
// and the weight (uvarint).
func appendRecord(b []byte, ev trace.Event, dt time.Duration) []byte {
	b = binary.AppendUvarint(b, uint64(dt))
	b = append(b, byte(ev.Kind))
	b = binary.AppendUvarint(b, uint64(len(ev.Endpoint)))
	b = append(b, ev.Endpoint...)
	b = binary.AppendUvarint(b, uint64(len(ev.Zone)))
	b = append(b, ev.Zone...)
	return binary.AppendUvarint(b, uint64(ev.Weight))
}

// events returns a new stream of the trace's events, from the first.
func (t *Trace) events() EventSource {
	return &spoolReader{r: bufio.NewReaderSize(io.NewSectionReader(t.f, 0, t.size), 32<<10)}
}

// spoolReader reads the records a Trace spooled.
type spoolReader struct {
	r  *bufio.Reader
	at time.Duration
}

func (s *spoolReader) Next() (trace.Event, error) {
	dt, err := binary.ReadUvarint(s.r)
	if err == io.EOF {
		return trace.Event{}, io.EOF
	}
	if err != nil {
		return trace.Event{}, s.corrupt(err)
	}
	kind, err := s.r.ReadByte()
	if err != nil {
		return trace.Event{}, s.corrupt(err)
	}
	id, err := s.str()
	if err != nil {
		return trace.Event{}, err
	}
	zone, err := s.str()
	if err != nil {
		return trace.Event{}, err
	}
	w, err := binary.ReadUvarint(s.r)
	if err != nil {
		return trace.Event{}, s.corrupt(err)
	}
	s.at += time.Duration(dt)
	return trace.Event{At: s.at, Kind: trace.Kind(kind), Endpoint: id, Zone: zone, Weight: uint32(w)}, nil
}

func (s *spoolReader) str() (string, error) {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return "", s.corrupt(err)
	}
	if n > 1<<20 {
		return "", s.corrupt(errors.New("oversized field"))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		return "", s.corrupt(err)
	}
	return string(b), nil
}

func (s *spoolReader) corrupt(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("sim: trace spool: %w", err)
}

// sliceSource streams events held in memory.
type sliceSource struct {
	events []trace.Event
	i      int
}

func (s *sliceSource) Next() (trace.Event, error) {
	if s.i >= len(s.events) {
		return trace.Event{}, io.EOF
	}
	s.i++
	return s.events[s.i-1], nil
}

// traceSummer computes a TraceInfo one event at a time, in memory that
// grows with the endpoints ready at once, not with the events.
type traceSummer struct {
	info  TraceInfo
	ready map[string]bool
	area  float64 // endpoints ready x seconds
	last  time.Duration
}

func (s *traceSummer) add(ev trace.Event) {
	if s.ready == nil {
		s.ready = map[string]bool{}
	}
	if s.info.Events == 0 {
		s.info.First = ev.At
		s.info.Instants = 1
	} else if ev.At > s.last {
		s.area += float64(len(s.ready)) * (ev.At - s.last).Seconds()
		s.info.Instants++
	}
	s.info.Events++
	s.last, s.info.Last = ev.At, ev.At
	switch ev.Kind {
	case trace.Ready:
		s.ready[ev.Endpoint] = true
	case trace.Unready, trace.Remove:
		delete(s.ready, ev.Endpoint)
	}
	s.info.PeakReady = max(s.info.PeakReady, len(s.ready))
}

func (s *traceSummer) done() TraceInfo {
	info := s.info
	if span := (info.Last - info.First).Seconds(); span > 0 {
		info.MeanReady = s.area / span
	} else {
		info.MeanReady = float64(len(s.ready))
	}
	return info
}
