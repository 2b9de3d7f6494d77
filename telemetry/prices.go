package telemetry

import (
	"encoding/json"
	"fmt"
	"os"
)

// Price is what a model costs, in USD per million tokens.
type Price struct {
	InputPerMTok  float64 `json:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok"`
}

// PriceTable maps model names to prices.
type PriceTable map[string]Price

// Cost returns the USD cost of a call and whether the model has a price.
func (p PriceTable) Cost(model string, input, output int) (float64, bool) {
	pr, ok := p[model]
	if !ok {
		return 0, false
	}
	return (float64(input)*pr.InputPerMTok + float64(output)*pr.OutputPerMTok) / 1e6, true
}

// LoadPriceTable reads a JSON object {"model": {"input_per_mtok": 0.15,
// "output_per_mtok": 0.6}, ...}.
func LoadPriceTable(path string) (PriceTable, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p PriceTable
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("price table %s: %w", path, err)
	}
	for model, pr := range p {
		if pr.InputPerMTok < 0 || pr.OutputPerMTok < 0 {
			return nil, fmt.Errorf("price table %s: negative price for %s", path, model)
		}
	}
	return p, nil
}
