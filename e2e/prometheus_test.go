package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/starmates-ai/ai-teams/internal/lookup"
)

// Every Prometheus question the e2e tests ask goes through lookup.Prometheus,
// the client aiteams and the console use, so the tests read the answers the
// way the tools do.

// promQuery runs an instant query on the Prometheus at base; an invalid
// query or an unreachable Prometheus fails the test.
func promQuery(t *testing.T, base, q string) []lookup.Sample {
	t.Helper()
	samples, err := lookup.Prometheus{BaseURL: base}.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return samples
}

// promScalar is promQuery for a query with one value; no series is 0.
func promScalar(t *testing.T, base, q string) float64 {
	t.Helper()
	v, err := lookup.Prometheus{BaseURL: base}.Scalar(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// exemplarTraceIDs returns the trace ids of the exemplars the stack's
// Prometheus keeps on q's series between from and to.
func exemplarTraceIDs(t *testing.T, q string, from, to time.Time) map[string]bool {
	t.Helper()
	exemplars, err := lookup.Prometheus{BaseURL: prometheusURL}.Exemplars(context.Background(), q, from, to.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range exemplars {
		ids[e.TraceID] = true
	}
	return ids
}
