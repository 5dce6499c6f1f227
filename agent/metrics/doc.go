// Package metrics is a small Prometheus registry: counters and gauges with
// labels, written in the text exposition format 0.0.4, and the HTTP handlers
// for /metrics and /healthz. It exists so that the agent needs no client
// library for the dozen series it exports.
//
// Metric and label names are constants in the agent's code, so a bad name, a
// re-registration with another type or other labels, or a With call with the
// wrong number of label values is a programming error: these panic, at
// startup where registration happens. Label values and sample values come
// from the node and never panic.
package metrics
