package main

import (
	"encoding/json"
	"strings"
)

// affinityBody is the part of a request the prefix affinity reads: OpenAI completions ("prompt": a string,
// a list of strings, or token ids), OpenAI chat ("messages"), TGI's /generate and /generate_stream ("inputs").
type affinityBody struct {
	Prompt   json.RawMessage `json:"prompt"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"` // a string, or a list of parts
	} `json:"messages"`
	Inputs string `json:"inputs"`
}

// affinityKey is the first n characters of what the engine will see first: the prompt, or the chat
// messages in order. "" when the body has none (it is then routed by least in flight).
func affinityKey(body []byte, n int) string {
	var b affinityBody
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	var text strings.Builder
	switch {
	case len(b.Messages) > 0:
		for _, m := range b.Messages {
			text.WriteString(m.Role)
			text.WriteByte(0)
			text.WriteString(jsonText(m.Content))
			text.WriteByte(0)
			if text.Len() >= 4*n { // enough bytes for n characters
				break
			}
		}
	case len(b.Prompt) > 0:
		text.WriteString(jsonText(b.Prompt))
	default:
		text.WriteString(b.Inputs)
	}
	return firstChars(text.String(), n)
}

// jsonText is a JSON string's text, or the JSON itself for anything else (token ids, lists of parts):
// the same prefix gives the same key either way.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0] // a batch of prompts: the first one decides
	}
	return string(raw)
}

func firstChars(s string, n int) string {
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}
