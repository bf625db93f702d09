package node

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMECommands keeps README.md's command tables true to the command
// table: every command the client port serves is named in its "Commands"
// section, every command named in the "Redis commands" table exists, and
// none of those listed as not supported does.
func TestREADMECommands(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Commands\n")
	redis := strings.Index(readme, "\n### Redis commands\n")
	if start < 0 || redis < start {
		t.Fatal(`README.md has no "## Commands" section with a "### Redis commands" part`)
	}
	end := strings.Index(readme[redis+1:], "\n## ")
	if end < 0 {
		t.Fatal(`README.md: no section after "### Redis commands"`)
	}
	section := readme[start : redis+1+end]

	// A command is named in a code span that starts with it: `GET`,
	// `SET key value ...`, `CLIENT ID/...`, `EXPIRE`/`PEXPIRE`.
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9.]*)[` /\\\\|\\[]").FindAllStringSubmatch(section, -1) {
		named[m[1]] = true
	}
	for _, spec := range commandTable {
		if !named[spec.name] {
			t.Errorf("README.md's Commands section does not name %s (node/cmdtable.go serves it)", spec.name)
		}
	}

	// Every row of the Redis commands table: the commands column names
	// commands that exist, except in the "not supported" row, whose
	// commands must not.
	row := regexp.MustCompile("^\\| ([a-z ]+) \\| (.*?) \\| .* \\|$")
	first := regexp.MustCompile("`([A-Z][A-Z0-9.]*)")
	rows := 0
	for _, line := range strings.Split(readme[redis:redis+1+end], "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil || m[1] == "family" {
			continue
		}
		rows++
		for _, c := range first.FindAllStringSubmatch(m[2], -1) {
			_, exists := commands[c[1]]
			switch {
			case m[1] == "not supported" && exists && c[1] != "SELECT" && c[1] != "CLIENT":
				t.Errorf("README.md lists %s as not supported, but node/cmdtable.go serves it", c[1])
			case m[1] != "not supported" && !exists:
				t.Errorf("README.md's %s row names %s, which node/cmdtable.go does not serve", m[1], c[1])
			}
		}
	}
	if rows < 5 {
		t.Fatalf("README.md's Redis commands table: found %d rows, want the families and the unsupported", rows)
	}
}

// TestREADMETransactions: the transactions row of README.md's Redis
// commands table names every command a transaction may queue (cmd_txn.go,
// txn_read.go), by name or as a family the row names.
func TestREADMETransactions(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rowText string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| transactions |") {
			rowText = line
		}
	}
	if rowText == "" {
		t.Fatal("README.md has no transactions row")
	}
	family := map[string]string{ // a command and the family the row names it by
		"PEXPIRE": "EXPIRE", "EXPIREAT": "EXPIRE", "PEXPIREAT": "EXPIRE",
		"INCRBY": "INCR", "DECR": "INCR", "DECRBY": "INCR",
		"TTL": "TTL", "PTTL": "TTL", "EXPIRETIME": "TTL", "PEXPIRETIME": "TTL",
	}
	var queued []string
	for name := range txnBuilders {
		queued = append(queued, name)
	}
	for _, s := range commandTable {
		if s.read != nil {
			queued = append(queued, s.name)
		}
	}
	for name := range txnReadBuilders {
		queued = append(queued, name)
	}
	for _, name := range queued {
		if f, ok := family[name]; ok && strings.Contains(rowText, "`"+f+"` family") {
			continue
		}
		if !strings.Contains(rowText, "`"+name+"`") {
			t.Errorf("README.md's transactions row does not say that %s can be queued", name)
		}
	}
}
