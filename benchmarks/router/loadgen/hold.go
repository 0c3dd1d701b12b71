package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// runHold opens `concurrency` requests that get no answer yet (held by the router while no replica is
// ready, or waiting on a backend told to hold its headers) and writes how many were sent to ready-file;
// the runner reads the proxy's memory then, and stops this process.
func runHold(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	url := fs.String("url", "", "completion URL")
	concurrency := fs.Int("concurrency", 1000, "requests to hold open")
	holdSeconds := fs.Int("hold", 120, "seconds the backend waits before answering")
	readyFile := fs.String("ready-file", "", "written once every request is sent")
	_ = fs.Parse(args)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
	target := *url + "?hold=" + strconv.Itoa(*holdSeconds) + "&chunks=1"
	body := []byte(`{"model":"bench","prompt":"Say something long.","max_tokens":1000,"stream":true}`)
	var sent atomic.Int64
	allSent := make(chan struct{})
	for i := 0; i < *concurrency; i++ {
		go func() {
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
				if sent.Add(1) == int64(*concurrency) {
					close(allSent) // exactly one request is the last
				}
			}}
			req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	<-allSent
	time.Sleep(time.Second) // the proxy has read the last request
	if err := os.WriteFile(*readyFile, []byte(strconv.FormatInt(sent.Load(), 10)), 0o644); err != nil {
		return err
	}
	select {}
}
