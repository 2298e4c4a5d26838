package query

import "github.com/minipacs/minipacs/index"

// TEMPORARY stub (helper branch cfind).
type Key struct {
	Tag      uint32
	VR       string
	Value    string
	Sequence bool
}

func FromKeys(level index.Level, keys []Key, opt Options) (*Request, error) { return nil, errorf("stub") }
