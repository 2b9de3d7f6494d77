// Package e2e holds end-to-end tests: the in-process slice (three services
// on loopback ports with in-memory exporters, against SQLite and
// PostgreSQL) and the stack tests against real collector, Jaeger and
// Prometheus processes.
package e2e
