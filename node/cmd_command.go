package node

import (
	"fmt"
	"path"
	"strings"

	"github.com/sessionraft/sessionraft/transport/resp"
	"github.com/sessionraft/sessionraft/transport/wire"
)

// COMMAND and its subcommands, generated from the command table
// (cmdtable.go) with Redis 7's reply shapes: a map is a RESP3 map (a flat
// array in RESP2), a set a RESP3 set (an array in RESP2). In test mode the
// DEBUG.* hooks are described too, since they exist then.
//
//	COMMAND                     every command's info
//	COMMAND COUNT               how many commands
//	COMMAND INFO [name ...]     info of the named commands (null if unknown), or of all
//	COMMAND DOCS [name ...]     docs of the named commands (unknown ones left out), or of all
//	COMMAND LIST [FILTERBY MODULE m | ACLCAT cat | PATTERN glob]
//	COMMAND GETKEYS name arg ...
//	COMMAND HELP

func (h *handler) command(q request) {
	args, r := q.args, q.r
	all := h.commandList()
	if len(args) == 1 {
		r.WriteArrayLen(len(all))
		for _, s := range all {
			writeCommandInfo(r, s)
		}
		return
	}
	sub := strings.ToUpper(string(args[1]))
	switch {
	case sub == "COUNT" && len(args) == 2:
		r.WriteInt(int64(len(all)))
	case sub == "INFO" && len(args) == 2:
		r.WriteArrayLen(len(all))
		for _, s := range all {
			writeCommandInfo(r, s)
		}
	case sub == "INFO":
		r.WriteArrayLen(len(args) - 2)
		for _, name := range args[2:] {
			if s, ok := h.lookupCommand(strings.ToUpper(string(name))); ok {
				writeCommandInfo(r, s)
			} else {
				r.WriteNull()
			}
		}
	case sub == "DOCS":
		docs := all
		if len(args) > 2 {
			docs = nil
			for _, name := range args[2:] {
				if s, ok := h.lookupCommand(strings.ToUpper(string(name))); ok {
					docs = append(docs, s)
				}
			}
		}
		r.WriteMapLen(len(docs))
		for _, s := range docs {
			r.WriteBulkString(s.lowerName())
			writeCommandDocs(r, s)
		}
	case sub == "LIST":
		h.commandListReply(r, all, args[2:])
	case sub == "GETKEYS" && len(args) >= 3:
		h.commandGetKeys(r, args[2:])
	case sub == "HELP" && len(args) == 2:
		r.WriteArrayLen(len(commandHelp))
		for _, line := range commandHelp {
			r.WriteSimple(line)
		}
	case sub == "COUNT" || sub == "GETKEYS" || sub == "HELP":
		writeErr(r, fmt.Errorf("%w: wrong number of arguments for 'command|%s' command", ErrArity, strings.ToLower(sub)))
	default:
		writeErr(r, fmt.Errorf("%w: unknown subcommand '%s'. Try COMMAND HELP.", ErrRedis, redisArg(args[1])))
	}
}

var commandHelp = []string{
	"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"(no subcommand)",
	"    Return details about all commands.",
	"COUNT",
	"    Return the total number of commands.",
	"INFO [<command-name> ...]",
	"    Return details about the named commands, or all of them.",
	"DOCS [<command-name> ...]",
	"    Return documentation of the named commands, or all of them.",
	"LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
	"    Return the names of the commands, optionally filtered.",
	"GETKEYS <full-command>",
	"    Return the session ids among the arguments of a full command.",
	"HELP",
	"    Print this help.",
}

// writeCommandInfo writes one command as Redis's COMMAND INFO does: name,
// arity, flags, first key, last key, key step, ACL categories, tips, key
// specs, subcommands.
func writeCommandInfo(r *resp.Reply, s *cmdSpec) {
	r.WriteArrayLen(10)
	r.WriteBulkString(s.lowerName())
	r.WriteInt(int64(s.arity))
	var flags []string
	for _, fn := range flagNames {
		if s.flags&fn.f != 0 {
			flags = append(flags, fn.names...)
		}
	}
	writeSimpleSet(r, flags)
	k := s.keys
	r.WriteInt(int64(k.first))
	r.WriteInt(int64(k.last))
	r.WriteInt(int64(k.step))
	var cats []string
	c := s.categories()
	for _, cn := range catNames {
		if c&cn.c != 0 {
			cats = append(cats, "@"+cn.name)
		}
	}
	writeSimpleSet(r, cats)
	r.WriteSetLen(0) // tips
	writeKeySpecs(r, k)
	r.WriteSetLen(len(s.subs)) // subcommands
	for _, sub := range s.subs {
		writeCommandInfo(r, sub)
	}
}

// writeKeySpecs writes the key specs of COMMAND INFO: none, one range from
// a fixed index, or one key after an option word.
func writeKeySpecs(r *resp.Reply, k keySpec) {
	if k.first == 0 && k.keyword == "" {
		r.WriteSetLen(0)
		return
	}
	r.WriteSetLen(1)
	r.WriteMapLen(3)
	r.WriteBulkString("flags")
	var flags []string
	for _, fn := range keyFlagNames {
		if k.flags&fn.f != 0 {
			flags = append(flags, fn.name)
		}
	}
	writeSimpleSet(r, flags)
	r.WriteBulkString("begin_search")
	r.WriteMapLen(2)
	r.WriteBulkString("type")
	lastkey, step := 0, 1
	if k.keyword != "" {
		r.WriteBulkString("keyword")
		r.WriteBulkString("spec")
		r.WriteMapLen(2)
		r.WriteBulkString("keyword")
		r.WriteBulkString(k.keyword)
		r.WriteBulkString("startfrom")
		r.WriteInt(1)
	} else {
		r.WriteBulkString("index")
		r.WriteBulkString("spec")
		r.WriteMapLen(1)
		r.WriteBulkString("index")
		r.WriteInt(int64(k.first))
		// In a key spec the last key is relative to the first.
		lastkey, step = k.last, k.step
		if lastkey >= 0 {
			lastkey -= k.first
		}
	}
	r.WriteBulkString("find_keys")
	r.WriteMapLen(2)
	r.WriteBulkString("type")
	r.WriteBulkString("range")
	r.WriteBulkString("spec")
	r.WriteMapLen(3)
	r.WriteBulkString("lastkey")
	r.WriteInt(int64(lastkey))
	r.WriteBulkString("keystep")
	r.WriteInt(int64(step))
	r.WriteBulkString("limit")
	r.WriteInt(0)
}

// writeCommandDocs writes one command's COMMAND DOCS map: Redis's
// summary, since and group, and sessionraft's one-line syntax (Redis
// describes arguments structurally instead; clients ignore keys they do
// not know, as they do a module's "module").
func writeCommandDocs(r *resp.Reply, s *cmdSpec) {
	r.WriteMapLen(4)
	r.WriteBulkString("summary")
	r.WriteBulkString(s.summary)
	r.WriteBulkString("since")
	r.WriteBulkString(s.since)
	r.WriteBulkString("group")
	r.WriteBulkString(s.group)
	r.WriteBulkString("syntax")
	r.WriteBulkString(s.syntax)
}

func writeSimpleSet(r *resp.Reply, items []string) {
	r.WriteSetLen(len(items))
	for _, it := range items {
		r.WriteSimple(it)
	}
}

// commandListReply answers COMMAND LIST [FILTERBY kind arg]: the names,
// all or those of the ACL category, or matching the glob pattern
// (case-insensitive). No command comes from a module.
func (h *handler) commandListReply(r *resp.Reply, all []*cmdSpec, opts [][]byte) {
	keep := func(*cmdSpec) bool { return true }
	if len(opts) > 0 {
		if len(opts) != 3 || !strings.EqualFold(string(opts[0]), "FILTERBY") {
			r.WriteError(wire.CodeBadArg, "syntax: COMMAND LIST [FILTERBY MODULE m | ACLCAT cat | PATTERN glob]")
			return
		}
		arg := string(opts[2])
		switch strings.ToUpper(string(opts[1])) {
		case "MODULE":
			keep = func(*cmdSpec) bool { return false }
		case "ACLCAT":
			c, ok := catByName(arg)
			keep = func(s *cmdSpec) bool { return ok && s.categories()&c != 0 }
		case "PATTERN":
			pat := strings.ToLower(arg)
			keep = func(s *cmdSpec) bool {
				ok, err := path.Match(pat, s.lowerName())
				return ok && err == nil
			}
		default:
			r.WriteError(wire.CodeBadArg, "syntax: COMMAND LIST [FILTERBY MODULE m | ACLCAT cat | PATTERN glob]")
			return
		}
	}
	var names []string
	for _, s := range all {
		if keep(s) {
			names = append(names, s.lowerName())
		}
	}
	r.WriteArrayLen(len(names))
	for _, name := range names {
		r.WriteBulkString(name)
	}
}

// commandGetKeys answers COMMAND GETKEYS: the session ids among the
// arguments of full, a command with its arguments, by the table.
func (h *handler) commandGetKeys(r *resp.Reply, full [][]byte) {
	s, ok := h.lookupCommand(strings.ToUpper(string(full[0])))
	switch {
	case !ok:
		r.WriteError(wire.CodeBadArg, fmt.Sprintf("invalid command specified: '%.64s'", full[0]))
		return
	case s.keys.first == 0 && s.findKeys == nil:
		r.WriteError(wire.CodeBadArg, "the command has no key arguments")
		return
	case !s.argsOK(len(full)):
		r.WriteError(wire.CodeBadArg, "invalid number of arguments specified for command")
		return
	}
	pos := s.keyPositions(full)
	r.WriteArrayLen(len(pos))
	for _, i := range pos {
		r.WriteBulk(full[i])
	}
}
