package config

import "testing"

func TestDefaultAIPrices(t *testing.T) {
	p := DefaultAIPrices()
	if _, ok := p["rule-planner-v1"]; !ok {
		t.Error("the built-in planner must have a price (0)")
	}
	cost, ok := p.Cost("gpt-4o-mini", 1_000_000, 1_000_000)
	if !ok || cost < 0.749 || cost > 0.751 {
		t.Errorf("gpt-4o-mini 1M in + 1M out = %v, want 0.75", cost)
	}
}
