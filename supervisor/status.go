package supervisor

import (
	"time"

	"github.com/kuma-agent/kuma-agent/internal/kumaunit"
)

// UnitStatus is one supervised unit as reported to checks, doctor and the
// control socket.
type UnitStatus struct {
	Unit      string    `json:"unit"`
	Group     Group     `json:"group,omitempty"`
	Condition string    `json:"condition"`
	Active    string    `json:"active_state"`
	Sub       string    `json:"sub_state,omitempty"`
	Result    string    `json:"result,omitempty"`
	Attempts  int       `json:"attempts"` // healing attempts in the current window
	GaveUp    bool      `json:"gave_up,omitempty"`
	Healing   bool      `json:"healing,omitempty"`
	NextAt    time.Time `json:"next_attempt,omitzero"`
	Refusal   string    `json:"refusal,omitempty"` // why the last attempt was refused
	Proposed  bool      `json:"proposed,omitempty"`
	// Exec is the unit's own command line (KUMA units, systemd backend),
	// as last read; ExecErr why it could not be read.
	Exec    *kumaunit.Exec `json:"exec,omitempty"`
	ExecErr string         `json:"exec_error,omitempty"`
}
