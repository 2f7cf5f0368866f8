package engine

import (
	"google.golang.org/protobuf/encoding/protowire"

	tickwirev1 "github.com/tickwire/tickwire/proto/tickwire/v1"
)

// requestIDOf returns ClientMessage.request_id (field 1) of an encoded
// client frame without decoding the rest, 0 when it has none or does not
// parse.
func requestIDOf(b []byte) uint32 {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0
		}
		b = b[n:]
		if num == 1 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0
			}
			return uint32(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0
		}
		b = b[n:]
	}
	return 0
}

// answerDropped answers a request the rate limiter dropped with its own
// request id, so the client's call ends with ERROR_CODE_RATE_LIMITED
// instead of waiting forever for a reply that will never come (a join ->
// leave -> join loop faster than RateLimit lost one request in a few
// hundred that way). Frames without a request id (inputs) get only the
// limiter's once-a-second notice.
func (s *session) answerDropped(data []byte) {
	if id := requestIDOf(data); id != 0 {
		s.send(&tickwirev1.ServerMessage{RequestId: id, Kind: &tickwirev1.ServerMessage_Error{Error: &tickwirev1.Error{
			Code: tickwirev1.ErrorCode_ERROR_CODE_RATE_LIMITED, Message: "rate limit exceeded; request dropped"}}})
	}
}
