package main

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Reason says why the router answered a request itself instead of a replica.
type Reason string

const (
	ReasonHoldQueueFull  Reason = "hold_queue_full"  // 429: -max-held requests are held already
	ReasonNoReadyReplica Reason = "no_ready_replica" // 503: held for -max-hold and no replica became ready
	ReasonClientClosed   Reason = "client_closed"    // the client went away while held (no answer is sent)
	ReasonUpstreamError  Reason = "upstream_error"   // 502: the replica could not be reached or failed
	ReasonBodyTooLarge   Reason = "body_too_large"   // 413: more than -max-body-bytes
)

var allReasons = []Reason{ReasonHoldQueueFull, ReasonNoReadyReplica, ReasonClientClosed, ReasonUpstreamError,
	ReasonBodyTooLarge}

var reasonStatus = map[Reason]int{
	ReasonHoldQueueFull:  http.StatusTooManyRequests,
	ReasonNoReadyReplica: http.StatusServiceUnavailable,
	ReasonUpstreamError:  http.StatusBadGateway,
	ReasonBodyTooLarge:   http.StatusRequestEntityTooLarge,
}

// errorBody is OpenAI's error shape (what the clients of both engines parse), with the reason on top.
type errorBody struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	} `json:"error"`
	Reason string `json:"reason"`
}

// reject answers with the reason's status, a Retry-After the client can honour and the reason in JSON.
func reject(w http.ResponseWriter, reason Reason, message string, retryAfter time.Duration) {
	status := reasonStatus[reason]
	var body errorBody
	body.Error.Message, body.Error.Type, body.Error.Code = message, string(reason), status
	body.Reason = string(reason)
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
