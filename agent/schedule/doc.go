// Package schedule runs the daemon's checks on their intervals.
//
// Each check has its own loop, so a slow check delays only itself and never
// runs twice at once; a semaphore shared by all loops (and by RunNow) bounds
// how many checks run in parallel. Results pass through checks.Thresholds, and
// only the latest outcome of each check is kept: memory does not grow with
// uptime. A change of any check's status bumps Generation and calls OnChange,
// which is how gossip tags and events learn that something moved.
package schedule
