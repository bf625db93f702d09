package main

import (
	"time"

	"github.com/sessionraft/sessionraft/node"
)

// This file is the only place that knows fsm.Limits' field names. The
// generic helpers accept any integer field type. DedupWindow is in
// nanoseconds of log time.

type integer interface {
	~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64
}

func i64[T integer](v T) int64 { return int64(v) }

func setInt[T integer](dst *T, v int64) { *dst = T(v) }

func limitsToFlags(c node.Config) limitFlags {
	return limitFlags{
		maxValueBytes:  i64(c.Limits.MaxValueBytes),
		maxRecordBytes: i64(c.Limits.MaxRecordBytes),
		maxFields:      i64(c.Limits.MaxFields),
		maxIDLen:       i64(c.Limits.MaxIDLen),

		maxSubjectLen:   i64(c.Limits.MaxSubjectLen),
		maxFieldNameLen: i64(c.Limits.MaxFieldNameLen),
		maxReqIDLen:     i64(c.Limits.MaxReqIDLen),
		dedupWindow:     time.Duration(i64(c.Limits.DedupWindow)),
	}
}

func limitsFromFlags(c *node.Config, l limitFlags) {
	setInt(&c.Limits.MaxValueBytes, l.maxValueBytes)
	setInt(&c.Limits.MaxRecordBytes, l.maxRecordBytes)
	setInt(&c.Limits.MaxFields, l.maxFields)
	setInt(&c.Limits.MaxIDLen, l.maxIDLen)
	setInt(&c.Limits.MaxSubjectLen, l.maxSubjectLen)
	setInt(&c.Limits.MaxFieldNameLen, l.maxFieldNameLen)
	setInt(&c.Limits.MaxReqIDLen, l.maxReqIDLen)
	setInt(&c.Limits.DedupWindow, int64(l.dedupWindow))
}
