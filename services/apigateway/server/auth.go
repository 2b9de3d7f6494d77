package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/starmates-ai/ai-teams/internal/httpjson"
	"github.com/starmates-ai/ai-teams/telemetry"
)

// APIKey is one client's key. Only its hash is kept; ID is a short, stable
// fingerprint that may appear in logs and metrics in place of the key.
type APIKey struct {
	Client string
	ID     string
	// Segment is the client's user segment (free, premium, enterprise) for
	// the user_segment label; empty when API_KEYS names none.
	Segment string
	hash    [32]byte
}

// Segments a key may name: a fixed set, because it becomes a metric label.
var segments = map[string]bool{"free": true, "premium": true, "enterprise": true}

// Keys authenticates API requests.
type Keys struct{ keys []APIKey }

// ParseAPIKeys reads API_KEYS: "client_name:key,client_name:key", each
// entry optionally followed by ":segment" (free, premium, enterprise).
func ParseAPIKeys(spec string) (*Keys, error) {
	k := &Keys{}
	for i, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		client, key, ok := strings.Cut(pair, ":")
		key, segment, _ := strings.Cut(key, ":")
		client, key, segment = strings.TrimSpace(client), strings.TrimSpace(key), strings.TrimSpace(segment)
		if !ok || client == "" || key == "" {
			// Never echo the pair: it holds a key.
			return nil, fmt.Errorf("API_KEYS entry %d is not client_name:key[:segment]", i+1)
		}
		if segment != "" && !segments[segment] {
			return nil, fmt.Errorf("API_KEYS entry %d: segment %q is not free, premium or enterprise", i+1, segment)
		}
		h := sha256.Sum256([]byte(key))
		k.keys = append(k.keys, APIKey{Client: client, ID: hex.EncodeToString(h[:4]), Segment: segment, hash: h})
	}
	return k, nil
}

// Len is the number of configured keys.
func (k *Keys) Len() int { return len(k.keys) }

// presented returns the key a request carries, from Authorization: Bearer
// or X-API-Key.
func presented(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if scheme, token, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// lookup finds the key r presents. Every configured key is compared, in
// constant time, so timing does not reveal which prefix matched.
func (k *Keys) lookup(r *http.Request) (APIKey, bool) {
	key := presented(r)
	if key == "" {
		return APIKey{}, false
	}
	h := sha256.Sum256([]byte(key))
	var found APIKey
	ok := false
	for _, c := range k.keys {
		if subtle.ConstantTimeCompare(h[:], c.hash[:]) == 1 {
			found, ok = c, true
		}
	}
	return found, ok
}

// Trusted reports whether r carries a valid key; the telemetry middleware
// uses it to decide whether the caller's traceparent may be continued.
func (k *Keys) Trusted(r *http.Request) bool {
	_, ok := k.lookup(r)
	return ok
}

type apiKeyCtx struct{}

// APIKeyFrom returns the key that authenticated the request in ctx.
func APIKeyFrom(ctx context.Context) (APIKey, bool) {
	k, ok := ctx.Value(apiKeyCtx{}).(APIKey)
	return k, ok
}

// Require wraps next so only requests with a valid key reach it.
func (k *Keys) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := k.lookup(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ai-teams"`)
			// Bounded ids for api_key_usage_total: a wrong key's hash would
			// make one series per guess.
			msg, id := "invalid API key", "invalid"
			if presented(r) == "" {
				msg, id = "missing API key: send Authorization: Bearer KEY or X-API-Key: KEY", "missing"
			}
			telemetry.SetAPIKey(r.Context(), id, telemetry.UnknownLabelValue)
			httpjson.WriteError(w, http.StatusUnauthorized, "unauthorized", msg)
			return
		}
		telemetry.SetAPIKey(r.Context(), key.ID, key.Client)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), apiKeyCtx{}, key)))
	})
}
