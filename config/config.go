// Package config holds configuration files compiled into the binaries, so
// a container needs nothing beside its executable. Each can be overridden
// at run time (see the variable named with each).
package config

import (
	_ "embed"
	"encoding/json"

	"github.com/starmates-ai/ai-teams/telemetry"
)

// AIPricesJSON is the default price table of ai_cost_total, USD per million
// input/output tokens, list prices at the time of writing: check your
// provider's. AI_PRICES_FILE replaces it.
//
//go:embed ai-prices.json
var AIPricesJSON []byte

// DefaultAIPrices parses AIPricesJSON.
func DefaultAIPrices() telemetry.PriceTable {
	var p telemetry.PriceTable
	if err := json.Unmarshal(AIPricesJSON, &p); err != nil {
		panic("config/ai-prices.json: " + err.Error()) // caught by the test in this package
	}
	return p
}
