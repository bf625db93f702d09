package client

import "time"

// OptionValues holds what a list of Options sets. Code that implements a
// Client's calls itself reads them with ReadOptions: a test double standing
// in for a cluster, or a wrapper that needs to see them. Values an option
// did not set are zero.
type OptionValues struct {
	Subject     string
	TTL         time.Duration
	IdleTimeout time.Duration
	// Fields are the WithField and WithFields values; FieldNames lists
	// their names in the order Create sends them.
	Fields       map[string][]byte
	FieldNames   []string
	ID           string
	Consistency  Consistency
	MaxStaleness time.Duration
	NoTouch      bool
	IfVersion    uint64
	Except       string
}

// ReadOptions applies opts and returns what they set, or the error a call
// would return for the first invalid value (ErrInvalid). It does not check
// which options a particular call accepts.
func ReadOptions(opts ...Option) (OptionValues, error) {
	o, err := apply(opts)
	if err != nil {
		return OptionValues{}, err
	}
	return OptionValues{
		Subject:      o.subject,
		TTL:          o.ttl,
		IdleTimeout:  o.idle,
		Fields:       o.fields,
		FieldNames:   o.fieldNames,
		ID:           o.id,
		Consistency:  o.consistency,
		MaxStaleness: o.maxStale,
		NoTouch:      o.noTouch,
		IfVersion:    o.ifVersion,
		Except:       o.except,
	}, nil
}
