package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type clientResult struct {
	Concurrency   int     `json:"concurrency"`
	Seconds       float64 `json:"seconds"`
	Requests      int     `json:"requests"`
	Errors        int     `json:"errors"`
	Chunks        int64   `json:"chunks"`
	TTFBP50Ms     float64 `json:"ttfb_p50_ms"`
	TTFBP99Ms     float64 `json:"ttfb_p99_ms"`
	ChunkP50Ms    float64 `json:"chunk_p50_ms"`
	ChunkP99Ms    float64 `json:"chunk_p99_ms"`
	FirstError    string  `json:"first_error,omitempty"`
	ChunksPerSec  float64 `json:"chunks_per_second"`
	MeasureStart  float64 `json:"measure_start_unix"`
	MeasureFinish float64 `json:"measure_finish_unix"`
}

// worker keeps one stream open at a time, back to back, for the whole run.
type worker struct {
	ttfb   []time.Duration
	chunk  []time.Duration
	reqs   int
	errs   int
	errMsg string
}

// runClient holds `concurrency` streams open for `duration` (after a ramp that is not measured) and prints
// one JSON object: time to first byte (request sent to the first chunk) and each chunk's transit time (the
// backend's write to this client's read), p50 and p99.
func runClient(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	url := fs.String("url", "", "completion URL (the backend's query parameters are added)")
	concurrency := fs.Int("concurrency", 100, "streams open at once")
	duration := fs.Duration("duration", 20*time.Second, "measured time")
	ramp := fs.Duration("ramp", 3*time.Second, "time to open the streams, not measured")
	tps := fs.Int("tps", 50, "chunks per second per stream")
	chunks := fs.Int("chunks", 100, "chunks per stream")
	startFile := fs.String("start-file", "", "file touched when the measured window starts")
	_ = fs.Parse(args)

	transport := &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: 0, DisableCompression: true}
	client := &http.Client{Transport: transport}
	target := fmt.Sprintf("%s?tps=%d&chunks=%d", *url, *tps, *chunks)
	body := []byte(`{"model":"bench","prompt":"Say something long.","max_tokens":1000,"stream":true}`)

	start := time.Now()
	measureFrom := start.Add(*ramp)
	measureTo := measureFrom.Add(*duration)
	var chunksTotal atomic.Int64
	workers := make([]*worker, *concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{}
		wg.Add(1)
		// Spread the stream starts over the ramp so chunks do not arrive in lockstep.
		delay := time.Duration(int64(*ramp) * int64(i) / int64(*concurrency) / 2)
		go func(w *worker) {
			defer wg.Done()
			time.Sleep(delay)
			for time.Now().Before(measureTo) {
				w.once(client, target, body, measureFrom, measureTo, &chunksTotal)
			}
		}(workers[i])
	}
	if *startFile != "" {
		time.Sleep(time.Until(measureFrom))
		_ = os.WriteFile(*startFile, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644)
	}
	wg.Wait()

	res := clientResult{Concurrency: *concurrency, Seconds: duration.Seconds(),
		MeasureStart: float64(measureFrom.UnixNano()) / 1e9, MeasureFinish: float64(measureTo.UnixNano()) / 1e9}
	var ttfb, chunk []time.Duration
	for _, w := range workers {
		ttfb = append(ttfb, w.ttfb...)
		chunk = append(chunk, w.chunk...)
		res.Requests += w.reqs
		res.Errors += w.errs
		if res.FirstError == "" {
			res.FirstError = w.errMsg
		}
	}
	res.Chunks = int64(len(chunk))
	res.ChunksPerSec = float64(res.Chunks) / duration.Seconds()
	res.TTFBP50Ms, res.TTFBP99Ms = percentileMs(ttfb, 0.50), percentileMs(ttfb, 0.99)
	res.ChunkP50Ms, res.ChunkP99Ms = percentileMs(chunk, 0.50), percentileMs(chunk, 0.99)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// once runs one streaming request; samples count only inside the measured window.
func (w *worker) once(client *http.Client, target string, body []byte, from, to time.Time, total *atomic.Int64) {
	sent := time.Now()
	resp, err := client.Post(target, "application/json", bytes.NewReader(body))
	if err != nil {
		w.fail(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		w.fail(fmt.Errorf("status %d: %s", resp.StatusCode, b))
		return
	}
	inWindow := func(t time.Time) bool { return t.After(from) && t.Before(to) }
	if inWindow(sent) {
		w.reqs++
	}
	reader := bufio.NewReaderSize(resp.Body, 4096)
	first := true
	for {
		line, err := reader.ReadSlice('\n')
		if err != nil {
			if err != io.EOF {
				w.fail(err)
			}
			return
		}
		now := time.Now()
		if !bytes.HasPrefix(line, []byte("data: {")) {
			continue
		}
		if first {
			first = false
			if inWindow(sent) {
				w.ttfb = append(w.ttfb, now.Sub(sent))
			}
		}
		if ts, ok := chunkTimestamp(line); ok && inWindow(now) {
			w.chunk = append(w.chunk, now.Sub(time.Unix(0, ts)))
			total.Add(1)
		}
	}
}

func (w *worker) fail(err error) {
	w.errs++
	if w.errMsg == "" {
		w.errMsg = err.Error()
	}
	time.Sleep(100 * time.Millisecond) // a refused stream is not retried in a tight loop
}

// chunkTimestamp reads the `"ts":N` field the backend appends, without a JSON decode per chunk.
func chunkTimestamp(line []byte) (int64, bool) {
	i := bytes.LastIndex(line, []byte(`"ts":`))
	if i < 0 {
		return 0, false
	}
	rest := line[i+5:]
	j := bytes.IndexByte(rest, '}')
	if j < 0 {
		return 0, false
	}
	ts, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return ts, err == nil
}

func percentileMs(samples []time.Duration, q float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	idx := int(q * float64(len(samples)-1))
	return float64(samples[idx].Microseconds()) / 1000
}
