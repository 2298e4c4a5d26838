//go:build cgo

package jpeg2000

/*
#cgo pkg-config: libopenjp2
#include <stdint.h>
#include <string.h>
#include <openjpeg.h>

typedef struct {
	const uint8_t* data;
	OPJ_SIZE_T len, pos;
} j2k_mem;

static OPJ_SIZE_T j2k_read(void* buf, OPJ_SIZE_T n, void* user) {
	j2k_mem* m = (j2k_mem*)user;
	if (m->pos >= m->len) return (OPJ_SIZE_T)-1;
	OPJ_SIZE_T k = m->len - m->pos;
	if (k > n) k = n;
	memcpy(buf, m->data + m->pos, k);
	m->pos += k;
	return k;
}

static OPJ_OFF_T j2k_skip(OPJ_OFF_T n, void* user) {
	j2k_mem* m = (j2k_mem*)user;
	if (n < 0) {
		if ((OPJ_SIZE_T)(-n) > m->pos) n = -(OPJ_OFF_T)m->pos;
	} else if ((OPJ_SIZE_T)n > m->len - m->pos) {
		n = (OPJ_OFF_T)(m->len - m->pos);
	}
	m->pos += n;
	return n;
}

static OPJ_BOOL j2k_seek(OPJ_OFF_T n, void* user) {
	j2k_mem* m = (j2k_mem*)user;
	if (n < 0 || (OPJ_SIZE_T)n > m->len) return OPJ_FALSE;
	m->pos = (OPJ_SIZE_T)n;
	return OPJ_TRUE;
}

typedef struct {
	char msg[256];
} j2k_log;

static void j2k_on_error(const char* msg, void* user) {
	j2k_log* l = (j2k_log*)user;
	if (l->msg[0] == 0) {
		strncpy(l->msg, msg, sizeof(l->msg) - 1);
		size_t n = strlen(l->msg);
		while (n > 0 && (l->msg[n-1] == '\n' || l->msg[n-1] == ' ')) l->msg[--n] = 0;
	}
}

static void j2k_quiet(const char* msg, void* user) { (void)msg; (void)user; }

enum { J2K_OK = 0, J2K_ERR = 1, J2K_MISMATCH = 2 };

typedef struct {
	uint32_t width, height, comps;
	uint32_t prec[4], sgnd[4], dx[4], dy[4];
	int stage; // 0: header, 1: decode, 2: components
	j2k_log log;
} j2k_info;

// j2k_decode decodes src (a codestream or, with jp2 set, a JP2 file) and
// returns the image, or NULL with info filled and a J2K_* code in *rc. The
// header is checked against want_w/want_h/want_comps/max_prec before the
// image is decoded. src is only used during this call.
static opj_image_t* j2k_decode(const void* src, size_t len, int jp2,
		uint32_t want_w, uint32_t want_h, uint32_t want_comps, uint32_t max_prec,
		j2k_info* info, int* rc) {
	j2k_mem mem = { (const uint8_t*)src, len, 0 };
	opj_image_t* img = NULL;
	opj_stream_t* st = NULL;
	opj_dparameters_t params;
	*rc = J2K_ERR;
	opj_codec_t* c = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
	if (c == NULL) return NULL;
	opj_set_error_handler(c, j2k_on_error, &info->log);
	opj_set_warning_handler(c, j2k_quiet, NULL);
	opj_set_info_handler(c, j2k_quiet, NULL);
	opj_set_default_decoder_parameters(&params);
	if (!opj_setup_decoder(c, &params)) goto fail;
	st = opj_stream_create(64 * 1024, OPJ_TRUE);
	if (st == NULL) goto fail;
	opj_stream_set_user_data(st, &mem, NULL);
	opj_stream_set_user_data_length(st, (OPJ_UINT64)len);
	opj_stream_set_read_function(st, j2k_read);
	opj_stream_set_skip_function(st, j2k_skip);
	opj_stream_set_seek_function(st, j2k_seek);
	info->stage = 0;
	if (!opj_read_header(st, c, &img) || img == NULL) goto fail;
	info->width = img->x1 - img->x0;
	info->height = img->y1 - img->y0;
	info->comps = img->numcomps;
	for (uint32_t i = 0; i < img->numcomps && i < 4; i++) {
		info->prec[i] = img->comps[i].prec;
		info->sgnd[i] = img->comps[i].sgnd;
		info->dx[i] = img->comps[i].dx;
		info->dy[i] = img->comps[i].dy;
	}
	if (img->x1 <= img->x0 || img->y1 <= img->y0 || info->width != want_w || info->height != want_h ||
			img->numcomps != want_comps) {
		*rc = J2K_MISMATCH;
		goto fail;
	}
	for (uint32_t i = 0; i < img->numcomps; i++) {
		if (img->comps[i].prec < 1 || img->comps[i].prec > max_prec || img->comps[i].dx != 1 || img->comps[i].dy != 1) {
			*rc = J2K_MISMATCH;
			goto fail;
		}
	}
	info->stage = 1;
	if (!opj_decode(c, st, img) || !opj_end_decompress(c, st)) goto fail;
	info->stage = 2;
	// JP2 palettes and channel definitions can change the components.
	if (img->numcomps != want_comps) {
		info->comps = img->numcomps;
		*rc = J2K_MISMATCH;
		goto fail;
	}
	for (uint32_t i = 0; i < img->numcomps; i++) {
		opj_image_comp_t* cp = &img->comps[i];
		if (cp->data == NULL || cp->w != want_w || cp->h != want_h || cp->prec < 1 || cp->prec > max_prec) goto fail;
		if (i < 4) { info->prec[i] = cp->prec; info->sgnd[i] = cp->sgnd; }
	}
	opj_stream_destroy(st);
	opj_destroy_codec(c);
	*rc = J2K_OK;
	return img;
fail:
	if (img != NULL) opj_image_destroy(img);
	if (st != NULL) opj_stream_destroy(st);
	opj_destroy_codec(c);
	return NULL;
}
*/
import "C"

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/minipacs/minipacs/dicomweb/dicom/pixels/codec"
)

// Available reports whether this build can decode JPEG 2000 (it needs cgo).
const Available = true

var jp2Signature = []byte{0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A}

// Decode decodes one JPEG 2000 frame into the output convention of package
// codec. dst is used when cap(dst) >= p.FrameSize().
func Decode(src []byte, p codec.Params, dst []byte) ([]byte, error) {
	if err := checkParams(p); err != nil {
		return nil, err
	}
	if len(src) < 12 {
		return nil, fmt.Errorf("jpeg2000: decode: frame of %d bytes: %w", len(src), codec.ErrCorrupt)
	}
	jp2 := C.int(0)
	if bytes.HasPrefix(src, jp2Signature) {
		jp2 = 1
	}
	if err := checkSIZ(src, jp2 == 1, p); err != nil {
		return nil, err
	}
	var info C.j2k_info
	var rc C.int
	img := C.j2k_decode(unsafe.Pointer(&src[0]), C.size_t(len(src)), jp2,
		C.uint32_t(p.Columns), C.uint32_t(p.Rows), C.uint32_t(p.Samples), C.uint32_t(p.BitsAllocated), &info, &rc)
	if img == nil {
		return nil, decodeError(rc, &info, p)
	}
	defer C.opj_image_destroy(img)

	size := int(p.FrameSize())
	if cap(dst) >= size {
		dst = dst[:size]
	} else {
		dst = make([]byte, size)
	}
	n := p.Rows * p.Columns
	comps := unsafe.Slice(img.comps, p.Samples)
	for c := range comps {
		data := unsafe.Slice((*int32)(unsafe.Pointer(comps[c].data)), n)
		convert(dst, data, c, p, int(comps[c].prec), comps[c].sgnd != 0)
	}
	return dst, nil
}

func decodeError(rc C.int, info *C.j2k_info, p codec.Params) error {
	if rc == C.J2K_MISMATCH {
		return fmt.Errorf("jpeg2000: decode: stream is %d×%d, %d components (precision %d, signed %d, subsampling %d×%d); want %d×%d, %d samples of at most %d bits: %w",
			info.width, info.height, info.comps, info.prec[0], info.sgnd[0], info.dx[0], info.dy[0],
			p.Columns, p.Rows, p.Samples, p.BitsAllocated, codec.ErrMismatch)
	}
	stage := [...]string{"read header", "decode", "check components"}[min(int(info.stage), 2)]
	msg := C.GoString(&info.log.msg[0])
	if msg == "" {
		msg = "failed"
	}
	return fmt.Errorf("jpeg2000: decode: openjpeg: %s: %s: %w", stage, msg, codec.ErrCorrupt)
}
