package fsm

// TableSizes returns how many tombstones and deduplication entries the
// state holds, for metrics and INFO. Both tables belong to the apply path,
// so this takes the apply lock: one short wait for the entry being
// applied, fine at scrape rate, not for a hot path.
func (f *FSM) TableSizes() (tombstones, dedup int) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	st := f.state.Load()
	return st.tombs.len(), st.dedup.len()
}
