// Command gopipeline models the classic four-stage telemetry pipeline:
//
//	sensors -> ingest (mutex-guarded ring, drop newest when full)
//	        -> pump (drains the ring into batches on a ticker)
//	        -> workers (write batches to a sink that counts events and bytes)
//
// It runs flat out for a fixed time and prints what was ingested, what was
// delivered per second, and what share of the ingested events was dropped.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one sensor reading: an encoded payload of 50-400 bytes.
type Event struct {
	Data []byte
}

// Ring is the ingest stage: a fixed-capacity ring of events behind one mutex.
// When it is full the newest event is dropped and counted.
type Ring struct {
	mu      sync.Mutex
	buf     []Event
	head    int // index of the oldest event
	count   int // events held
	dropped uint64
}

func NewRing(capacity int) *Ring { return &Ring{buf: make([]Event, capacity)} }

// Push stores ev, or drops it (and counts the drop) when the ring is full.
func (r *Ring) Push(ev Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == len(r.buf) {
		r.dropped++
		return false
	}
	r.buf[(r.head+r.count)%len(r.buf)] = ev
	r.count++
	return true
}

// PopBatch moves up to max of the oldest events into a new slice.
func (r *Ring) PopBatch(max int) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(max, r.count)
	if n == 0 {
		return nil
	}
	batch := make([]Event, n)
	for i := range batch {
		slot := (r.head + i) % len(r.buf)
		batch[i] = r.buf[slot]
		r.buf[slot] = Event{} // let the payload be collected
	}
	r.head = (r.head + n) % len(r.buf)
	r.count -= n
	return batch
}

// Dropped returns the number of events refused so far.
func (r *Ring) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Sink is the last stage: it only counts what it is given.
type Sink struct {
	events atomic.Uint64
	bytes  atomic.Uint64
}

func (s *Sink) Write(batch []Event) {
	var n uint64
	for _, ev := range batch {
		n += uint64(len(ev.Data))
	}
	s.events.Add(uint64(len(batch)))
	s.bytes.Add(n)
}

// payloadSize draws a size in [50, 400] bytes with a mean of about 160:
// 50 plus an exponential tail, capped at 400.
func payloadSize(rng *rand.Rand) int {
	return min(400, 50+int(rng.ExpFloat64()*115))
}

// encode builds one event of exactly size bytes, JSON-ish or flat binary.
func encode(rng *rand.Rand, sensor int, seq uint64, size int, json bool) []byte {
	b := make([]byte, 0, size)
	if json {
		b = append(b, `{"sensor":`...)
		b = strconv.AppendInt(b, int64(sensor), 10)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, `,"value":`...)
		b = strconv.AppendFloat(b, rng.Float64()*100, 'f', 3, 64)
		b = append(b, `,"pad":"`...)
		for len(b) < size-2 {
			b = append(b, 'x')
		}
		return append(b, '"', '}')[:size]
	}
	// Flat binary: sensor id, sequence number, raw float bits, then padding.
	b = append(b, byte(sensor), byte(sensor>>8))
	for i := 0; i < 8; i++ {
		b = append(b, byte(seq>>(8*i)))
	}
	b = append(b, byte(rng.Uint32()), byte(rng.Uint32()))
	return b[:size] // capacity is size; the tail is zero padding
}

func sensor(id int, format string, ring *Ring, stop *atomic.Bool, ingested *atomic.Uint64, wg *sync.WaitGroup) {
	defer wg.Done()
	rng := rand.New(rand.NewSource(int64(id) + 1))
	var seq uint64
	for !stop.Load() {
		json := format == "json" || (format == "mixed" && seq%2 == 0)
		ring.Push(Event{Data: encode(rng, id, seq, payloadSize(rng), json)})
		seq++
	}
	ingested.Add(seq)
}

// pump drains the whole ring into batches on every tick until done is closed,
// then drains once more and closes out.
func pump(ring *Ring, tick time.Duration, batchSize int, out chan<- []Event, done <-chan struct{}) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	drain := func() {
		for batch := ring.PopBatch(batchSize); batch != nil; batch = ring.PopBatch(batchSize) {
			out <- batch
		}
	}
	for {
		select {
		case <-ticker.C:
			drain()
		case <-done:
			drain()
			close(out)
			return
		}
	}
}

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long the sensors run")
	sensors := flag.Int("sensors", runtime.NumCPU(), "sensor goroutines")
	workers := flag.Int("workers", 8, "worker goroutines writing to the sink")
	ringSize := flag.Int("ring", 65536, "ring capacity in events")
	batchSize := flag.Int("batch", 512, "events per batch")
	tick := flag.Duration("tick", 50*time.Millisecond, "pump drain interval")
	format := flag.String("format", "mixed", "payload encoding: json, binary or mixed")
	flag.Parse()

	ring := NewRing(*ringSize)
	sink := &Sink{}
	batches := make(chan []Event, *workers)
	done := make(chan struct{})
	var stop atomic.Bool
	var ingested atomic.Uint64

	var workersWG sync.WaitGroup
	for i := 0; i < *workers; i++ {
		workersWG.Add(1)
		go func() {
			defer workersWG.Done()
			for batch := range batches {
				sink.Write(batch)
			}
		}()
	}
	go pump(ring, *tick, *batchSize, batches, done)

	start := time.Now()
	var sensorsWG sync.WaitGroup
	for i := 0; i < *sensors; i++ {
		sensorsWG.Add(1)
		go sensor(i, *format, ring, &stop, &ingested, &sensorsWG)
	}
	time.Sleep(*duration)
	stop.Store(true)
	sensorsWG.Wait()
	elapsed := time.Since(start)
	deliveredInTime := sink.events.Load()
	bytesInTime := sink.bytes.Load()

	// Shut down: the pump drains what is left, the workers finish, and every
	// ingested event is then either delivered or counted as dropped.
	close(done)
	workersWG.Wait()
	in, dropped, delivered := ingested.Load(), ring.Dropped(), sink.events.Load()

	secs := elapsed.Seconds()
	fmt.Printf("GOMAXPROCS=%d sensors=%d workers=%d ring=%d batch=%d tick=%v format=%s\n",
		runtime.GOMAXPROCS(0), *sensors, *workers, *ringSize, *batchSize, *tick, *format)
	fmt.Printf("elapsed            %.2f s\n", secs)
	fmt.Printf("ingested           %d events (%.0f events/s)\n", in, float64(in)/secs)
	fmt.Printf("delivered          %d events (%.0f events/s, %.1f MB/s, mean %.0f B/event)\n",
		deliveredInTime, float64(deliveredInTime)/secs, float64(bytesInTime)/secs/1e6,
		float64(bytesInTime)/float64(max(deliveredInTime, 1)))
	fmt.Printf("dropped            %d events (%.1f%% of ingested)\n", dropped, 100*float64(dropped)/float64(max(in, 1)))
	fmt.Printf("delivered at close %d events (check: delivered + dropped = ingested: %v)\n",
		delivered, delivered+dropped == in)
}
