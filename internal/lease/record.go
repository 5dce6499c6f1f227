package lease

import (
	"encoding/json"
	"fmt"
	"time"
)

// Record is the JSON value of a lease key.
type Record struct {
	Holder   string    `json:"holder"`
	Purpose  string    `json:"purpose"`
	Expires  time.Time `json:"expires"`
	Acquired time.Time `json:"acquired"`
}

func (r Record) encode() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("lease %q: encode record: %w", r.Purpose, err)
	}
	return b, nil
}

// decodeRecord parses a stored value; a record without a holder is
// rejected because nobody could be asked whether it is alive.
func decodeRecord(key string, revision uint64, b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("lease key %q revision %d: %w", key, revision, err)
	}
	if r.Holder == "" {
		return Record{}, fmt.Errorf("lease key %q revision %d: field holder is empty", key, revision)
	}
	return r, nil
}
