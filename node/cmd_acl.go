package node

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sessionraft/sessionraft/node/acl"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// AUTH and the ACL subcommands. They answer inline from the node's users
// (auth.go); who may run which is in the command table, as for every
// command: AUTH is no_auth, ACL WHOAMI, CAT and HELP are open to every
// user allowed them, USERS, LIST and LOAD are @admin.

// auth is AUTH [username] password.
func (h *handler) auth(q request) {
	user, pass := "", string(q.args[1])
	if len(q.args) == 3 {
		user, pass = string(q.args[1]), string(q.args[2])
	}
	if err := h.authenticate(q.st, q.c.RemoteAddr(), user, pass); err != nil {
		writeErr(q.r, err)
		return
	}
	q.r.WriteSimple("OK")
}

// aclUnknown answers an ACL subcommand the table does not have.
func (h *handler) aclUnknown(q request) {
	q.r.WriteError(wire.CodeUnknownCmd, fmt.Sprintf("unknown subcommand '%.32s'. Try ACL HELP.", q.args[1]))
}

func (h *handler) aclWhoami(q request) {
	q.r.WriteBulkString(q.st.auth.user.Name())
}

// aclCat lists the categories a rule may name (as Redis does, without
// "all"), or the commands of one category.
func (h *handler) aclCat(q request) {
	if len(q.args) == 2 {
		q.r.WriteArrayLen(len(acl.KnownCategories))
		for _, c := range acl.KnownCategories {
			q.r.WriteBulkString(c)
		}
		return
	}
	want := strings.ToLower(string(q.args[2]))
	if !slices.Contains(acl.KnownCategories, want) {
		writeErr(q.r, fmt.Errorf("%w: unknown category '%.32s'", ErrBadArg, q.args[2]))
		return
	}
	var names []string
	for name, cats := range aclCatalog(h.n.cfg.TestMode) {
		if slices.Contains(cats, want) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	q.r.WriteArrayLen(len(names))
	for _, n := range names {
		q.r.WriteBulkString(n)
	}
}

func (h *handler) aclUsers(q request) {
	users := h.n.auth.users.Load().Users()
	q.r.WriteArrayLen(len(users))
	for _, u := range users {
		q.r.WriteBulkString(u.Name())
	}
}

// aclList shows every user as an ACL file line; passwords only as
// SHA-256 digests.
func (h *handler) aclList(q request) {
	users := h.n.auth.users.Load().Users()
	q.r.WriteArrayLen(len(users))
	for _, u := range users {
		q.r.WriteBulkString(u.Describe())
	}
}

// aclLoad rereads this node's ACL file: every node has its own, as every
// Redis server has, so an operator reloads each (SIGHUP does too).
func (h *handler) aclLoad(q request) {
	if h.n.cfg.ACLFile == "" {
		q.r.WriteError(wire.CodeInternal, "This instance is not configured to use an ACL file (--aclfile)")
		return
	}
	if err := h.n.ReloadACL(); err != nil {
		q.r.WriteError(wire.CodeInternal, clipText(err.Error()))
		return
	}
	q.r.WriteSimple("OK")
}

var aclHelp = []string{
	"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"WHOAMI",
	"    Return the current connection username.",
	"CAT [<category>]",
	"    List all commands that belong to <category>, or all command categories",
	"    when no category is specified.",
	"USERS",
	"    List all the registered usernames.",
	"LIST",
	"    Show users details in config file format.",
	"LOAD",
	"    Reload users from the ACL file.",
	"HELP",
	"    Print this help.",
}

func (h *handler) aclHelp(q request) {
	q.r.WriteArrayLen(len(aclHelp))
	for _, line := range aclHelp {
		q.r.WriteSimple(line)
	}
}
