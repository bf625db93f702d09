package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// envPrefix starts the environment variable of every server flag.
const envPrefix = "SESSIONRAFT_"

// envName is the environment variable for a flag: SESSIONRAFT_DATA_DIR for
// --data-dir.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of fs that was not given on the command line from
// its environment variable, when that variable is set. Command-line flags
// therefore win over the environment, which wins over defaults. lookup is
// os.LookupEnv outside tests.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s=%q: %w", name, v, err))
		}
	})
	return errors.Join(errs...)
}

// annotateEnv appends each flag's environment variable to its usage text.
func annotateEnv(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		f.Usage += " [$" + envName(f.Name) + "]"
	})
}

// durationValue is a pflag.Value for a time.Duration that also accepts a
// plain integer as seconds, like the wire protocol does ("2" == "2s").
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Type() string   { return "duration" }

// parseDuration parses an integer number of seconds or a Go duration
// ("1500ms", "30m"). Negative durations are refused.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(time.Duration(1<<63-1)/time.Second) {
			return 0, fmt.Errorf("duration %q is too large", s)
		}
		d = time.Duration(n) * time.Second
	} else {
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use integer seconds or a Go duration like 1500ms or 30m", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return d, nil
}

func durationVar(fs *pflag.FlagSet, p *time.Duration, name, usage string) {
	fs.Var((*durationValue)(p), name, usage)
}

// splitList flattens repeated and comma-separated list flags, trimming
// blanks and dropping empty entries.
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
