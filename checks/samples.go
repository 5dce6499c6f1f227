package checks

// Metric describes one Prometheus gauge family a check measures: its name
// (units in the name: _bytes, _seconds, _ratio), help and label names. The
// descriptions are package variables, so one family always has one set of
// labels whatever check reports it.
type Metric struct {
	Name   string
	Help   string
	Labels []string
}

// Sample is one value of a Metric, with a value per label name in order.
type Sample struct {
	Metric *Metric
	Labels []string
	Value  float64
}

// Measurer is a check that keeps the numbers of its latest run for
// /metrics (the daemon reads them at each scrape). Samples must be safe to
// call while Run runs.
type Measurer interface {
	Samples() []Sample
}

// AllMetrics lists every Metric a built-in check reports (the conventions
// test lints each).
var AllMetrics = []*Metric{
	MetricMemoryTotal, MetricMemoryAvailable, MetricSwapTotal, MetricSwapUsed, MetricCPUs, MetricLoadPerCPU,
	MetricDiskFree, MetricDiskFillRate, MetricDiskThresholdETA, MetricCertExpiry,
}
