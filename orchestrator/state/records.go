package state

import "path/filepath"

// RunsFile holds the records of the runs in flight.
const RunsFile = "runs.json"

// Records is a persisted map of records of any JSON-encodable type V, keyed
// by id, such as the runs in flight (RunsFile), which a restarted daemon
// reads to carry on its predecessor's runs. Safe for concurrent use; every
// change is written atomically before the call returns, and is seen by All
// only once it is written. A record is stored as given: one holding a slice
// or a map must not be changed in place after Put.
type Records[V any] struct {
	s *store[V]
}

// OpenRecords loads the records file name of the instance directory dir (a
// missing file is an empty set).
func OpenRecords[V any](dir, name string) (*Records[V], error) {
	s, err := openStore[V](filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	return &Records[V]{s: s}, nil
}

// Put stores the record of id, replacing any earlier one.
func (r *Records[V]) Put(id string, v V) error { return r.s.put(id, v) }

// Delete forgets the record of id; deleting an absent id succeeds, and
// costs no write.
func (r *Records[V]) Delete(id string) error { return r.s.delete(id) }

// All returns a copy of every record by id.
func (r *Records[V]) All() map[string]V { return r.s.all() }
