package checks

import "context"

// Area groups checks in doctor's report.
type Area string

const (
	AreaTime     Area = "time"
	AreaIdentity Area = "identity"
	AreaNames    Area = "names"
	AreaStorage  Area = "storage"
	AreaNetwork  Area = "network"
	AreaLB       Area = "load-balancer"
	AreaPlugin   Area = "plugin"
	AreaCluster  Area = "cluster"
	AreaServices Area = "services"
	AreaSecurity Area = "security"
	AreaHost     Area = "host"
)

// Result is what one run of a check found.
type Result struct {
	Status Status `json:"status"`
	// Message is one line an operator reads first.
	Message string `json:"message"`
	// Details are the specifics, one fact per entry (a missing host, a
	// closed port), so a long finding stays readable.
	Details []string `json:"details,omitempty"`
	// Remedy is the fix, as exact as we can make it; empty when OK.
	Remedy string `json:"remedy,omitempty"`
}

// Check is one probe of this node.
type Check interface {
	// Name is stable and unique: it keys --only/--skip, metrics and events.
	Name() string
	Area() Area
	// Run must honour ctx: the runner cancels it at the check's timeout.
	// Run never panics on bad input; it reports it as a Result.
	Run(ctx context.Context) Result
}

// Okf, Warnf, Critf and Unknownf build results tersely.
func Okf(msg string, details ...string) Result {
	return Result{Status: OK, Message: msg, Details: details}
}

func Warnf(msg, remedy string, details ...string) Result {
	return Result{Status: Warn, Message: msg, Remedy: remedy, Details: details}
}

func Critf(msg, remedy string, details ...string) Result {
	return Result{Status: Crit, Message: msg, Remedy: remedy, Details: details}
}

func Unknownf(msg, remedy string, details ...string) Result {
	return Result{Status: Unknown, Message: msg, Remedy: remedy, Details: details}
}
