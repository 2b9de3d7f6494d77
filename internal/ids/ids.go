// Package ids makes random identifiers for rows and workflows.
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns prefix + "_" + 16 random hex digits, e.g. "run_3f9a…".
func New(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + "_" + hex.EncodeToString(b[:])
}
