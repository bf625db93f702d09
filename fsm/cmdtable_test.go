package fsm

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// tableSamples holds, for every command type in the table, commands that
// exercise its whole body: a new command must add its own here, or
// TestCmdTable fails. They are applied after tableSetup.
func tableSamples() map[CmdType][]Command {
	long := strings.Repeat("x", 200) // lengths that take two-byte uvarints
	return map[CmdType][]Command{
		CmdCreate: {
			withReq(cCreate("n1", "u1", flds("a", "1", "", "", long, long), 30*sec, 3600*sec), "req-1"),
			cCreate("n2", "", nil, 0, 0),
			cCreate("n3", "u1", flds("b", "2"), -1, math.MaxInt64), // refused by check
		},
		CmdSet: {
			cSet("s1", 0, flds("b", "2", long, "v"), "a", "zz"),
			{Type: CmdSet, Set: &Set{ID: "s1", IfVersion: 1 << 40, AbsTTL: -90 * sec}},
		},
		CmdTouch: {
			cTouch([]string{"s1", "s2"}, []int64{t0, math.MinInt64}),
			cTouch([]string{"s1"}, nil), // refused by check
		},
		CmdDestroy: {cDestroy("s2", "missing", long)},
		CmdRotate:  {cRotate("s1", "s9", 1), cRotate("s1", "s1", 0)},
		CmdRevoke:  {withReq(cRevoke("u", "s1"), "r"), cRevoke("", "")},
		CmdExpire:  {cExpire("s3", "s1")},

		CmdSetString: {
			cSetStr("k9", "v", 0, false, Expiry{}),
			withReq(cSetStr("k1", long, CondXX, true, Expiry{ExpiryIn, 90 * sec}), "r"),
			cSetStr("s1", "v", CondNX, true, Expiry{ExpiryAt, t0 + 1}), // WRONGTYPE
			cSetStr("k1", "", 0, false, Expiry{Mode: 9}),               // refused by check
		},
		CmdMSet: {
			{Type: CmdMSet, MSet: &MSet{Keys: []string{"k1", "k2", "k1"}, Values: [][]byte{[]byte("a"), {}, []byte(long)}}},
			{Type: CmdMSet, MSet: &MSet{Keys: []string{"k1"}, Values: [][]byte{[]byte("a")}, NX: true}},
			{Type: CmdMSet, MSet: &MSet{Keys: []string{"k1"}}}, // refused by check
		},
		CmdGetDel: {{Type: CmdGetDel, GetDel: &GetDel{Key: "k1"}}, {Type: CmdGetDel, GetDel: &GetDel{Key: "h1"}}},
		CmdGetEx: {
			{Type: CmdGetEx, GetEx: &GetEx{Key: "k1", Expiry: Expiry{ExpiryIn, sec}}},
			{Type: CmdGetEx, GetEx: &GetEx{Key: "k1", Expiry: Expiry{ExpiryAt, 1}}},
			{Type: CmdGetEx, GetEx: &GetEx{Key: "k1", Expiry: Expiry{ExpiryIn, math.MaxInt64}}}, // refused by check
		},
		CmdSetExpiry: {
			{Type: CmdSetExpiry, SetExpiry: &SetExpiry{Key: "s1", Expiry: Expiry{ExpiryIn, 100 * sec}, Cond: CondXX | CondGT}},
			{Type: CmdSetExpiry, SetExpiry: &SetExpiry{Key: "k1", Expiry: Expiry{ExpiryAt, -5}}},
			{Type: CmdSetExpiry, SetExpiry: &SetExpiry{Key: "z1"}},
			{Type: CmdSetExpiry, SetExpiry: &SetExpiry{Key: "z1", Cond: CondLT}}, // refused by check
		},
		CmdIncrBy: {
			{Type: CmdIncrBy, IncrBy: &IncrBy{Key: "k1", By: -300}},
			{Type: CmdIncrBy, IncrBy: &IncrBy{Key: "k1", By: math.MaxInt64}}, // overflow
			{Type: CmdIncrBy, IncrBy: &IncrBy{Key: "new", By: math.MinInt64}},
		},
		CmdAppend: {{Type: CmdAppend, Append: &Append{Key: "k1", Value: []byte(long)}}, {Type: CmdAppend, Append: &Append{Key: "z1", Value: []byte{}}}},
		CmdHSet: {
			{Type: CmdHSet, HSet: &HSet{Key: "h1", Fields: flds("a", "1", long, "")}},
			{Type: CmdHSet, HSet: &HSet{Key: "s1", Fields: flds("a", "2", "b", "3"), NX: true}},
			{Type: CmdHSet, HSet: &HSet{Key: "h2"}}, // refused by check
		},
		CmdHDel:    {{Type: CmdHDel, HDel: &HDel{Key: "h1", Fields: []string{"f", "g", long}}}, {Type: CmdHDel, HDel: &HDel{Key: "k1"}}},
		CmdHIncrBy: {{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "h1", Field: "n", By: 7}}, {Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "h1", Field: "f", By: 1}}},
		CmdSAdd:    {{Type: CmdSAdd, SAdd: &SAdd{Key: "z1", Members: []string{"c", "a", long, "a"}}}, {Type: CmdSAdd, SAdd: &SAdd{Key: "z1"}}},
		CmdSRem:    {{Type: CmdSRem, SRem: &SRem{Key: "z1", Members: []string{"a", "b", "x"}}}, {Type: CmdSRem, SRem: &SRem{Key: "k1", Members: []string{"a"}}}},
		CmdRename: {
			{Type: CmdRename, Rename: &Rename{Key: "s1", NewKey: "h1"}},
			{Type: CmdRename, Rename: &Rename{Key: "k1", NewKey: "z1", NX: true}},
			{Type: CmdRename, Rename: &Rename{Key: "nope", NewKey: long}},
		},
		CmdFlush: {{Type: CmdFlush, Flush: &Flush{}}},
		CmdTxn: {
			{Type: CmdTxn, Txn: &Txn{
				Watch: []Watch{{"k1", 1}, {"nope", 0}},
				Cmds: []Command{
					cSetStr("k1", "x", 0, true, Expiry{}),
					{Type: CmdIncrBy, IncrBy: &IncrBy{Key: "h1", By: 1}},
					cCreate("n1", "u", flds("a", "b"), 0, 0),
					cRevoke("u", ""),
					{Type: IgnorableFlag | 3},
					{Type: CmdHDel, HDel: &HDel{}}, // refused by its check
				}}},
			{Type: CmdTxn, Txn: &Txn{Watch: []Watch{{"k1", 7}}, Cmds: []Command{cDestroy("k1")}}}, // aborted
			{Type: CmdTxn, Txn: &Txn{Cmds: []Command{withReq(cDestroy("k1"), "r")}}},              // refused by check
			{Type: CmdTxn, Txn: &Txn{Cmds: []Command{cRead("k1"), cSetStr("k1", "y", 0, false, Expiry{}), cRead("k1"), cRead("nope")}}},
		},
		CmdRead: {cRead("k1"), cRead("h1"), cRead(long), cRead("")}, // the last refused by check
	}
}

func cRead(key string) Command { return Command{Type: CmdRead, Read: &Read{Key: key}} }

func cSetStr(key, value string, cond Cond, get bool, e Expiry) Command {
	return Command{Type: CmdSetString, SetString: &SetString{Key: key, Value: []byte(value), Cond: cond, Get: get, Expiry: e}}
}

// tableSetup creates the records the samples work on: s3 expires at t0+1.
func tableSetup() []Command {
	return []Command{
		cCreate("s1", "u", flds("a", "1"), 0, 0),
		cCreate("s2", "u", nil, 0, 0),
		cCreate("s3", "v", nil, 0, 1),
		cSetStr("k1", "10", 0, false, Expiry{}),
		{Type: CmdHSet, HSet: &HSet{Key: "h1", Fields: flds("f", "x", "g", "1")}},
		{Type: CmdSAdd, SAdd: &SAdd{Key: "z1", Members: []string{"a", "b"}}},
	}
}

// TestCmdTable checks every entry of the command table: its hooks are
// set, its name is unique and is CmdType.String, and its commands (and
// its command without a payload) round-trip through AppendCommand and
// DecodeCommand in EncodedSize bytes, pass or fail Check as Apply does,
// and apply the same whether ApplyBatch decodes them (decodeView) or
// ApplyDecoded takes them as they are.
func TestCmdTable(t *testing.T) {
	samples := tableSamples()
	names := map[string]CmdType{}
	for typ := range 256 {
		typ := CmdType(typ)
		s := specOf(typ)
		if s == nil {
			if len(samples[typ]) > 0 {
				t.Errorf("type %d has samples but no table entry", typ)
			}
			if want := "type " + strconv.Itoa(int(typ)); typ != CmdBatch && typ.String() != want {
				t.Errorf("unknown type %d is called %q", typ, typ.String())
			}
			c := Command{Type: typ, ReqID: "r"}
			if got := EncodedSize(&c); got != len(AppendCommand(nil, &c)) || got != 3 {
				t.Errorf("unknown type %d: EncodedSize %d, encoding %d bytes, want 3", typ, got, len(AppendCommand(nil, &c)))
			}
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			if s.name == "" || s.name != strings.ToLower(s.name) || typ.String() != s.name {
				t.Errorf("name %q, String %q", s.name, typ.String())
			}
			if prev, dup := names[s.name]; dup {
				t.Errorf("name %q is also type %d's", s.name, prev)
			}
			names[s.name] = typ
			if s.has == nil || s.encode == nil || s.size == nil || s.decode == nil || s.shards == nil || s.apply == nil {
				t.Fatal("a required hook (has, encode, size, decode, shards, apply) is nil")
			}
			if typ&IgnorableFlag != 0 || typ == CmdBatch {
				t.Errorf("type %d may not be a command", typ)
			}
			if len(samples[typ]) == 0 {
				t.Fatal("no sample commands in tableSamples")
			}
			if s.has(&Command{Type: typ}) {
				t.Error("has is true without a payload")
			}
			for i, c := range append(samples[typ], Command{Type: typ}) {
				checkTableCmd(t, i, c)
			}
		})
	}
}

func checkTableCmd(t *testing.T, i int, c Command) {
	t.Helper()
	s := specOf(c.Type)
	data := AppendCommand(nil, &c)
	if n := EncodedSize(&c); n != len(data) {
		t.Errorf("cmd %d: EncodedSize %d, encoding %d bytes", i, n, len(data))
	}
	got, err := DecodeCommand(data)
	if err != nil {
		t.Fatalf("cmd %d: %v", i, err)
	}
	if !s.has(got) {
		t.Fatalf("cmd %d decodes without a payload", i)
	}
	if s.has(&c) && !reflect.DeepEqual(*got, c) {
		t.Errorf("cmd %d round trip:\n got %+v\nwant %+v", i, *got, c)
	}

	// Without its payload, Check and Apply refuse it; encoded, it is a
	// command with a zero payload, applied below.
	if !s.has(&c) {
		cerr := Limits{}.Check(&c)
		res := New(Limits{}).ApplyDecoded(1, &Batch{Time: t0, Cmds: []Command{c}})
		if !errors.Is(cerr, ErrInvalid) || !errors.Is(res[0].Err, ErrInvalid) {
			t.Errorf("cmd %d without payload: Check %v, Apply %v", i, cerr, res[0].Err)
		}
		c = *got
	}

	// Apply through both decoders, from the same state.
	entry := &Batch{Time: t0 + 2, Cmds: []Command{c}}
	a, b := New(Limits{}), New(Limits{})
	setup := &Batch{Time: t0, Cmds: tableSetup()}
	a.ApplyDecoded(1, setup)
	b.ApplyDecoded(1, setup)
	ra, err := a.ApplyBatch(2, EncodeBatch(entry))
	if err != nil {
		t.Fatalf("cmd %d: %v", i, err)
	}
	rb := b.ApplyDecoded(2, entry)
	if string(encodeResults(ra)) != string(encodeResults(rb)) || errText(ra[0].Err) != errText(rb[0].Err) {
		t.Errorf("cmd %d: ApplyBatch %+v, ApplyDecoded %+v", i, ra[0], rb[0])
	}
	if a.Hash() != b.Hash() {
		t.Errorf("cmd %d: ApplyBatch and ApplyDecoded reach different states", i)
	}

	// Check refuses what Apply refuses without looking at the state.
	if cerr := (Limits{}).Check(&c); cerr != nil && errText(cerr) != errText(rb[0].Err) {
		t.Errorf("cmd %d: Check %v, Apply %v", i, cerr, rb[0].Err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestSizes checks the size helpers against the encoders at the
// boundaries of each varint length.
func TestSizes(t *testing.T) {
	for shift := range 64 {
		for _, v := range []uint64{1<<shift - 1, 1 << shift, 1<<shift + 1, math.MaxUint64 >> shift} {
			if got, want := sizeUvarint(v), len(binary.AppendUvarint(nil, v)); got != want {
				t.Errorf("sizeUvarint(%d) = %d, want %d", v, got, want)
			}
			for _, s := range []int64{int64(v), -int64(v)} {
				if got, want := sizeVarint(s), len(binary.AppendVarint(nil, s)); got != want {
					t.Errorf("sizeVarint(%d) = %d, want %d", s, got, want)
				}
			}
		}
	}
	for _, v := range []int64{0, math.MinInt64, math.MaxInt64} {
		if got, want := sizeVarint(v), len(binary.AppendVarint(nil, v)); got != want {
			t.Errorf("sizeVarint(%d) = %d, want %d", v, got, want)
		}
	}
	m := flds("a", strings.Repeat("v", 300), strings.Repeat("n", 128), "", "", "x")
	if got, want := sizeFields(m), len(appendFields(nil, m)); got != want {
		t.Errorf("sizeFields = %d, want %d", got, want)
	}
	// EncodeBatch allocates once, the size it needs.
	b := sampleBatch()
	if n, hint := len(EncodeBatch(b)), batchSizeHint(b); hint < n || hint > n+2*binary.MaxVarintLen64 {
		t.Errorf("batchSizeHint %d for %d bytes", hint, n)
	}
}

// FuzzEncodedSize: whatever command decodes, EncodedSize is the length of
// its encoding.
func FuzzEncodedSize(f *testing.F) {
	for _, cs := range tableSamples() {
		for _, c := range cs {
			f.Add(AppendCommand(nil, &c))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			return
		}
		if n, enc := EncodedSize(c), AppendCommand(nil, c); n != len(enc) {
			t.Fatalf("EncodedSize %d, encoding %d bytes: %+v", n, len(enc), c)
		}
	})
}

// TestCommandGolden pins the encoding of every command type (written by
// the encoders before the command table existed): the bytes are in raft
// logs on disk, so they may never change.
func TestCommandGolden(t *testing.T) {
	pinned := map[CmdType]bool{}
	for _, tc := range []struct {
		c   Command
		hex string
	}{
		{withReq(cCreate("s1", "u1", flds("a", "1", "bin", "\x00\xff"), 30*sec, 3600*sec), "req-1"),
			"020125057265712d3102733102753102016101310362696e0200ff80b09dc2df018080c58bc6d101"},
		{cSet("s1", 300, flds("b", "2"), "a"), "03010f00027331ac02010162013201016100"},
		{Command{Type: CmdSet, Set: &Set{ID: "s1", AbsTTL: -90 * sec}}, "03010d00027331000000ff8fd8c69e05"},
		{cTouch([]string{"s1", "s2"}, []int64{t0, -1}), "0401130002027331027332028080d0e2c6bfce972f01"},
		{cDestroy("s1", "s2"), "0501080002027331027332"},
		{cRotate("s1", "s9", 7), "0601080002733102733907"},
		{cRevoke("u1", "s9"), "07010700027531027339"},
		{cExpire("x"), "08010400010178"},
		// Redis commands (issue 14).
		{withReq(cSetStr("k", "v", CondNX, true, Expiry{ExpiryIn, 1500}), "r"),
			"09010b0172016b0176010102b817"},
		{Command{Type: CmdMSet, MSet: &MSet{Keys: []string{"a", "b"}, Values: [][]byte{[]byte("1"), {}}, NX: true}},
			"0a010b0002016101620201310001"},
		{Command{Type: CmdGetDel, GetDel: &GetDel{Key: "k"}},
			"0b010300016b"},
		{Command{Type: CmdGetEx, GetEx: &GetEx{Key: "k", Expiry: Expiry{ExpiryAt, t0}}},
			"0c010d00016b038080d0e2c6bfce972f"},
		{Command{Type: CmdSetExpiry, SetExpiry: &SetExpiry{Key: "k", Expiry: Expiry{ExpiryIn, -sec}, Cond: CondXX | CondLT}},
			"0d010a00016b02ffa7d6b9070a"},
		{Command{Type: CmdIncrBy, IncrBy: &IncrBy{Key: "k", By: -2}},
			"0e010400016b03"},
		{Command{Type: CmdAppend, Append: &Append{Key: "k", Value: []byte("xy")}},
			"0f010600016b027879"},
		{Command{Type: CmdHSet, HSet: &HSet{Key: "h", Fields: flds("b", "2", "a", "1"), NX: true}},
			"10010d00016802016101310162013201"},
		{Command{Type: CmdHDel, HDel: &HDel{Key: "h", Fields: []string{"a"}}},
			"110106000168010161"},
		{Command{Type: CmdHIncrBy, HIncrBy: &HIncrBy{Key: "h", Field: "n", By: 5}},
			"120106000168016e0a"},
		{Command{Type: CmdSAdd, SAdd: &SAdd{Key: "s", Members: []string{"m", "n"}}},
			"13010800017302016d016e"},
		{Command{Type: CmdSRem, SRem: &SRem{Key: "s", Members: []string{"m"}}},
			"14010600017301016d"},
		{Command{Type: CmdRename, Rename: &Rename{Key: "a", NewKey: "b", NX: true}},
			"150106000161016201"},
		{Command{Type: CmdFlush, Flush: &Flush{}},
			"16010100"},
		{Command{Type: CmdTxn, Txn: &Txn{Watch: []Watch{{"k", 3}}, Cmds: []Command{cDestroy("k"), {Type: CmdIncrBy, IncrBy: &IncrBy{Key: "n", By: 1}}}}},
			"1701140001016b03020501040001016b0e010400016e02"},
		{cRead("k"), "18010300016b"},
		{Command{Type: CmdCreate, ReqID: "r"}, "02010701720000000000"}, // no payload: a zero Create
		{Command{Type: IgnorableFlag | 1, ReqID: "r"}, "810100"},       // unknown: empty payload
	} {
		if got := hex.EncodeToString(AppendCommand(nil, &tc.c)); got != tc.hex {
			t.Errorf("%v: encoding\n got %s\nwant %s", tc.c.Type, got, tc.hex)
		}
		pinned[tc.c.Type] = true
	}
	for typ, s := range cmdTable {
		if s != nil && !pinned[CmdType(typ)] {
			t.Errorf("%s: no golden encoding", s.name)
		}
	}
}
