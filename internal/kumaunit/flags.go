package kumaunit

// ValueKind is what a flag's value must look like.
type ValueKind int

const (
	ValueNone     ValueKind = iota // a switch: --install
	ValueID                        // a service ID: --id
	ValueListen                    // a listener, [ADDR]:PORT: --health 0.0.0.0:7208
	ValueHostPort                  // an address others dial, HOST:PORT with a host: --raft.node.addr
	ValueCoreList                  // Cores to fetch configuration from, comma-separated [https://]HOST:PORT
	ValuePort                      // a port number: --api.port 7221
)

// FlagSpec is one KUMA flag as KUMA 4.0's documentation shows it.
type FlagSpec struct {
	Name    string // without the leading dashes
	Value   ValueKind
	Port    int    // the port the documentation shows, 0 when none
	Meaning string // what the flag is for, shown next to its value
	// PortName is the port of the cluster's port table (cluster.Port.Name)
	// a listener flag sets; "" for none.
	PortName string
}

// Flags is the table of the KUMA flags the agent understands. Every other
// flag is kept as unknown (Exec.Unknown) and shown; none is fatal. Source:
// the KUMA 4.0 online help (Core install and restore procedures, service
// install commands); see README "KUMA facts".
var Flags = []FlagSpec{
	{Name: "id", Value: ValueID, Meaning: "service ID (created in the web UI; the first Core's is " + FirstCoreID + ")"},
	{Name: "raft.node.listen", Value: ValueListen, Port: 7209, Meaning: "Raft listener of this Core", PortName: "raft"},
	{Name: "raft.node.addr", Value: ValueHostPort, Port: 7209, Meaning: "address the other Cores reach this Core's Raft at (<FQDN>:7209)"},
	{Name: "raft.join", Value: ValueHostPort, Port: 7209, Meaning: "Core whose Raft cluster this Core joined at install"},
	{Name: "health", Value: ValueListen, Port: 7208, Meaning: "health listener (path and body not documented)", PortName: "core-health"},
	{Name: "internal", Value: ValueListen, Port: 7210, Meaning: "internal API: every service fetches its configuration here", PortName: "internal"},
	{Name: "private", Value: ValueListen, Port: 7220, Meaning: "web UI", PortName: "web-ui"},
	{Name: "cybertrace", Value: ValueListen, Port: 7222, Meaning: "CyberTrace proxy", PortName: "cybertrace"},
	{Name: "rest", Value: ValueListen, Port: 7223, Meaning: "REST API (/api/v1, /v2, /v2.1)", PortName: "rest"},
	{Name: "install", Value: ValueNone, Meaning: "install the service (unit) and exit"},
	{Name: "core", Value: ValueCoreList, Port: 7210, Meaning: "Core(s) this service fetches its configuration from"},
	{Name: "api.port", Value: ValuePort, Port: 7221, Meaning: "this service's API port"},
}

// Spec finds a flag of the table by name (without dashes).
func Spec(name string) (FlagSpec, bool) {
	for _, f := range Flags {
		if f.Name == name {
			return f, true
		}
	}
	return FlagSpec{}, false
}
