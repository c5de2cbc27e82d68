package sessions

// Describe flags ride in an INFO command's Limit, which INFO otherwise ignores, so the wire
// format is unchanged. They serve the REST gateway, whose get must be one read, not two. A
// node that predates them answers a plain INFO (Result.Int zero, no payloads); callers must
// accept that.
const (
	// DescribePayloads: the reply also carries the payloads (Result.Fields) and the absolute
	// deadline in unix ms (Result.Int), and Info.LastSeen is the access before this one.
	DescribePayloads = 1 << iota
	// DescribeQuietly: the INFO neither counts as a read nor moves the last access.
	DescribeQuietly
)

// describeLocked answers an INFO that carries describe flags.
func describeLocked(cmd *Command, r *record, m blobMeta, now int64) Result {
	prev := r.lastSeen
	if cmd.Limit&DescribeQuietly == 0 {
		r.reads++
		r.lastSeen = now
	}
	info := infoOf(cmd.ID, r, m, now)
	info.LastSeen = prev
	return Result{Info: &info, Fields: m.payloads(), Int: r.deadline}
}
