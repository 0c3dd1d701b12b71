package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// runBackend serves an OpenAI-shaped streaming completion: `data: {...}\n\n` chunks at a steady rate, then
// `data: [DONE]`. Each chunk carries the wall-clock nanoseconds it was written at ("ts"), so the client
// can tell how long the chunk spent between the engine and itself (the proxy's share, against direct).
// Query parameters set the stream: tps (chunks per second), chunks (how many), hold (seconds to wait
// before the response headers: an engine that has not answered yet, for the memory of held requests).
func runBackend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9001", "address to listen on")
	_ = fs.Parse(args)
	http.HandleFunc("/", stream)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	return http.ListenAndServe(*listen, nil)
}

func stream(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	q := r.URL.Query()
	tps := queryInt(q.Get("tps"), 50)
	chunks := queryInt(q.Get("chunks"), 100)
	if hold := queryInt(q.Get("hold"), 0); hold > 0 {
		select {
		case <-time.After(time.Duration(hold) * time.Second):
		case <-r.Context().Done():
			return
		}
	}
	flusher := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	ticker := time.NewTicker(time.Second / time.Duration(tps))
	defer ticker.Stop()
	for i := 0; i < chunks; i++ {
		if i > 0 {
			select {
			case <-ticker.C:
			case <-r.Context().Done():
				return
			}
		}
		// About the size of a vLLM completion chunk of one token.
		_, err := fmt.Fprintf(w, `data: {"id":"cmpl-bench","object":"text_completion","created":1700000000,`+
			`"model":"bench","choices":[{"index":0,"text":" tok%d","logprobs":null,"finish_reason":null,`+
			`"stop_reason":null}],"ts":%d}`+"\n\n", i, time.Now().UnixNano())
		if err != nil {
			return
		}
		flusher.Flush()
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}

func queryInt(s string, def int) int {
	if v, err := strconv.Atoi(s); err == nil {
		return v
	}
	return def
}
