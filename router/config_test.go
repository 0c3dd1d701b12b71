package main

import (
	"strings"
	"testing"
)

func TestConfigDefaultsAndChoices(t *testing.T) {
	cfg, err := parseConfig([]string{"-endpoints-dns", "m-engines.llm.svc"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8000" || cfg.AdminListen != ":9090" || cfg.Routing != RoutingLeastInFlight ||
		cfg.EndpointsPort != 8000 || cfg.MaxHeld != 1000 {
		t.Errorf("defaults %+v", cfg)
	}
	cfg, err = parseConfig([]string{"-endpoints-static", ""})
	if err != nil || !cfg.StaticSet || len(cfg.EndpointsStatic) != 0 {
		t.Errorf("an empty static list is a fleet of none: %+v %v", cfg, err)
	}
}

func TestConfigRefusals(t *testing.T) {
	cases := map[string][]string{
		"exactly one":          {},
		"exactly one of":       {"-endpoints-dns", "a", "-endpoints-static", "b:1"},
		"-routing":             {"-endpoints-dns", "a", "-routing", "random"},
		"-affinity-load-bound": {"-endpoints-dns", "a", "-affinity-load-bound", "0.5"},
		"negative":             {"-endpoints-dns", "a", "-max-held", "-1"},
	}
	for want, args := range cases {
		_, err := parseConfig(args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want an error naming %q", args, err, want)
		}
	}
}
