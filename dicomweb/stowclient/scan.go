package stowclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/minipacs/minipacs/dicomweb/dicom/part10"
)

// File is one file found by Scan.
type File struct {
	Path string
	Size int64
	// StudyInstanceUID and SOPInstanceUID from the file, when it could be
	// parsed (an unparseable Part-10 file is still sent: the archive says why
	// it refuses it).
	StudyInstanceUID, SOPInstanceUID string
}

// Skip reasons.
const (
	SkipDICOMDIR = "DICOMDIR (a media directory, not an image)"
	SkipNoPart10 = "no DICOM Part-10 header"
	SkipEmpty    = "empty file"
)

// Scan is what a walk found: files to send and files skipped with a reason.
type Scan struct {
	Files   []*File
	Skipped map[string][]string // reason → paths
	Bytes   int64               // total size of Files
}

// Walk classifies the files at each path (a folder is walked recursively;
// symbolic links to folders are not followed). A DICOMDIR, files without
// the Part-10 preamble and "DICM", and empty files are skipped and counted.
func Walk(ctx context.Context, paths []string) (*Scan, error) {
	sc := &Scan{Skipped: map[string][]string{}}
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				if p != root && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			f, reason, err := classify(ctx, p)
			if err != nil {
				return err
			}
			if reason != "" {
				sc.Skipped[reason] = append(sc.Skipped[reason], p)
				return nil
			}
			sc.Files = append(sc.Files, f)
			sc.Bytes += f.Size
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", root, err)
		}
	}
	return sc, nil
}

// classify reads the head of the file at p.
func classify(ctx context.Context, p string) (*File, string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, "", err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, "", err
	}
	if st.Size() == 0 {
		return nil, SkipEmpty, nil
	}
	var head [132]byte
	if _, err := io.ReadFull(fh, head[:]); err != nil || !bytes.Equal(head[128:], []byte("DICM")) {
		return nil, SkipNoPart10, nil
	}
	f := &File{Path: p, Size: st.Size()}
	pf, err := part10.Parse(ctx, fh, st.Size(), part10.Limits{})
	if err != nil {
		if strings.EqualFold(filepath.Base(p), "DICOMDIR") {
			return nil, SkipDICOMDIR, nil
		}
		return f, "", nil // the archive will say what is wrong with it
	}
	if pf.Meta.String(0x00020002) == part10.MediaStorageDirectoryStorage {
		return nil, SkipDICOMDIR, nil
	}
	f.StudyInstanceUID = pf.DataSet.String(part10.TagStudyInstanceUID)
	f.SOPInstanceUID = pf.DataSet.String(part10.TagSOPInstanceUID)
	if f.SOPInstanceUID == "" {
		f.SOPInstanceUID = pf.Meta.String(0x00020003)
	}
	return f, "", nil
}
