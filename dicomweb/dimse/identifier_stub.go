package dimse

import (
	"errors"

	"github.com/minipacs/minipacs/dicomweb/archive/query"
	"github.com/minipacs/minipacs/index"
)

// TEMPORARY: replaced by identifier.go (helper branch cfind).
type identifier struct {
	level   string
	keys    []query.Key
	charset []string
}

const maxIdentifierBytes = 1 << 20

func decodeIdentifier(b []byte, ts string) (*identifier, error) { return nil, errors.New("stub") }
func encodeMatch(res *index.Result, level index.Level, qrLevel string, fields []query.Field, reqCharset []string, ts, aet string) ([]byte, error) {
	return nil, errors.New("stub")
}
