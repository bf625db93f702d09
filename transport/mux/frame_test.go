package mux

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

func encodeFrame(id uint64, tag byte, payload []byte) []byte {
	var hdr [frameHeaderLen]byte
	putFrameHeader(&hdr, id, tag, len(payload))
	return append(hdr[:], payload...)
}

func TestFrameRoundTrip(t *testing.T) {
	var stream []byte
	stream = append(stream, encodeFrame(1, 7, []byte("hello"))...)
	stream = append(stream, encodeFrame(2, 8, nil)...)
	stream = append(stream, encodeFrame(3, 9, bytes.Repeat([]byte{'x'}, 100))...) // too large below
	stream = append(stream, encodeFrame(4, statusErr, encodeRemoteError("NOTLEADER", "try n2", 1<<20))...)
	fr := &frameReader{br: bufio.NewReader(bytes.NewReader(stream)), max: 64}

	id, tag, p, err := fr.next()
	if err != nil || id != 1 || tag != 7 || string(p) != "hello" {
		t.Fatalf("frame 1: %d %d %q %v", id, tag, p, err)
	}
	id, tag, p, err = fr.next()
	if err != nil || id != 2 || tag != 8 || len(p) != 0 {
		t.Fatalf("frame 2: %d %d %q %v", id, tag, p, err)
	}
	_, _, _, err = fr.next()
	tl, ok := errors.AsType[*frameTooLargeError](err)
	if !ok || !errors.Is(err, ErrFrameTooLarge) || tl.id != 3 {
		t.Fatalf("frame 3: want frameTooLargeError for id 3, got %v", err)
	}
	if err := fr.skip(tl); err != nil {
		t.Fatal(err)
	}
	id, tag, p, err = fr.next()
	if err != nil || id != 4 || tag != statusErr {
		t.Fatalf("frame 4: %d %d %v", id, tag, err)
	}
	re, err := decodeRemoteError(p)
	if err != nil || re.Code != "NOTLEADER" || re.Msg != "try n2" {
		t.Fatalf("remote error: %+v %v", re, err)
	}
	if _, _, _, err := fr.next(); err != io.EOF {
		t.Fatalf("end: err = %v, want io.EOF", err)
	}
}

func TestFrameTruncatedAndShort(t *testing.T) {
	full := encodeFrame(1, 1, []byte("abc"))
	for i := 1; i < len(full); i++ {
		fr := &frameReader{br: bufio.NewReader(bytes.NewReader(full[:i])), max: 1 << 10}
		if _, _, _, err := fr.next(); err != io.ErrUnexpectedEOF {
			t.Fatalf("truncated at %d: err = %v, want io.ErrUnexpectedEOF", i, err)
		}
	}
	fr := &frameReader{br: bufio.NewReader(bytes.NewReader([]byte{0, 0, 0, 3, 1, 2, 3})), max: 1 << 10}
	if _, _, _, err := fr.next(); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("short length: err = %v, want ErrBadFrame", err)
	}
}

func TestEncodeRemoteErrorFits(t *testing.T) {
	long := string(bytes.Repeat([]byte{'m'}, 1000))
	p := encodeRemoteError("CODE", long, 100)
	if frameHeaderLen+len(p) > 100 {
		t.Fatalf("error frame of %d bytes exceeds limit", frameHeaderLen+len(p))
	}
	re, err := decodeRemoteError(p)
	if err != nil || re.Code != "CODE" {
		t.Fatalf("%+v %v", re, err)
	}
}

func FuzzFrameDecoder(f *testing.F) {
	f.Add(encodeFrame(1, 2, []byte("payload")))
	f.Add(append(encodeFrame(5, statusErr, encodeRemoteError("ERR", "boom", 1<<10)), encodeFrame(6, 0, nil)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := &frameReader{br: bufio.NewReader(bytes.NewReader(data)), max: 256}
		for range len(data) + 1 {
			_, tag, p, err := fr.next()
			if tl, ok := errors.AsType[*frameTooLargeError](err); ok {
				if tl.size <= 256 {
					t.Fatalf("frame of %d bytes reported too large", tl.size)
				}
				if fr.skip(tl) != nil {
					return
				}
				continue
			}
			if err != nil {
				return
			}
			if frameHeaderLen+len(p) > 256 {
				t.Fatalf("decoded payload of %d bytes beyond limit", len(p))
			}
			if tag == statusErr {
				decodeRemoteError(p) // must not panic on arbitrary bytes
			}
		}
	})
}
