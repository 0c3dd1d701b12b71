package main

import "testing"

func TestAffinityKey(t *testing.T) {
	cases := []struct {
		name, body, want string
		n                int
	}{
		{"completion", `{"prompt":"You are a helpful assistant. Say hi"}`, "You are a", 9},
		{"completion batch", `{"prompt":["first prompt","second"]}`, "first", 5},
		{"token ids", `{"prompt":[1,2,3,4]}`, "[1,2", 4},
		{"chat", `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`,
			"system\x00Be brief.\x00user\x00Hi\x00", 100},
		{"chat parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
			"user\x00[{\"type\":", 14},
		{"tgi", `{"inputs":"What is Deep Learning?","parameters":{}}`, "What is", 7},
		{"characters, not bytes", `{"prompt":"héllo wörld"}`, "héllo w", 7},
		{"no prompt", `{"model":"m"}`, "", 10},
		{"not JSON", `garbage`, "", 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := affinityKey([]byte(c.body), c.n); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}
