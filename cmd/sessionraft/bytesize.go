package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// byteSizeValue is a flag holding a number of bytes, written as Redis
// writes memory sizes in its configuration: a plain integer, or one with
// a unit k/m/g (powers of 1000) or kb/mb/gb (powers of 1024), in any case;
// the binary units kib/mib/gib/tib are accepted too (512MiB).
type byteSizeValue int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first, so "kb" is not read as "k" after a "b".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
	{"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000},
	{"b", 1},
}

func (v *byteSizeValue) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*v = byteSizeValue(n)
	return nil
}

func (v *byteSizeValue) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *byteSizeValue) Type() string   { return "bytes" }

func parseByteSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: use a number of bytes, optionally with a unit (k, kb, m, mb, g, gb), like 512mb", s)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

func byteSizeVar(fs *pflag.FlagSet, p *int64, name, usage string) {
	fs.Var((*byteSizeValue)(p), name, usage)
}
