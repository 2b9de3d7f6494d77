//go:build tools

// Package tools pins the Jaeger v2 binary (github.com/jaegertracing/jaeger/cmd/jaeger)
// so that scripts/build-jaeger.sh can build it with `go build` from this module.
// This module exists only because `go install ...@version` refuses modules whose
// go.mod carries replace directives.
package tools

import (
	_ "github.com/jaegertracing/jaeger/cmd/jaeger"
)
