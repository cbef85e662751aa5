// libjpeg (libjpeg-turbo's libjpeg API) behind status codes. The error manager's error_exit
// longjmps back to the setjmp of the public function that is running; everything that must be
// released after such a jump lives in the decoder or encoder struct, never in locals.
#include "media_shims.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

struct media_jpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr error;
    struct jpeg_source_mgr source;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int created;
    int header_read;
    int started;
    int truncated;
    int cmyk;
    uint32_t max_scans;
    JSAMPLE *scanline;
    char message[JMSG_LENGTH_MAX + 64];
};

static void copy_message(char *buffer, size_t size, const char *text) {
    if (buffer == NULL || size == 0) return;
    snprintf(buffer, size, "%s", text);
}

static void decoder_error_exit(j_common_ptr cinfo) {
    struct media_jpeg_decoder *decoder = cinfo->client_data;
    if (!decoder->truncated) {
        char text[JMSG_LENGTH_MAX];
        cinfo->err->format_message(cinfo, text);
        copy_message(decoder->message, sizeof decoder->message, text);
    }
    longjmp(decoder->jump, 1);
}

// Warnings (corrupt entropy data, extraneous bytes) are common in real files and decoding goes
// on; they are not printed.
static void quiet_message(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level;
}

static void quiet_output(j_common_ptr cinfo) { (void)cinfo; }

static void source_init(j_decompress_ptr cinfo) { (void)cinfo; }

// The whole file is in memory, so being asked for more means the file is truncated. (libjpeg's
// own memory source would instead invent an end marker and return a half-grey image.)
static boolean source_fill(j_decompress_ptr cinfo) {
    struct media_jpeg_decoder *decoder = cinfo->client_data;
    decoder->truncated = 1;
    copy_message(decoder->message, sizeof decoder->message, "the data ends inside the image");
    ERREXIT(cinfo, JERR_INPUT_EOF);
    return FALSE;
}

static void source_skip(j_decompress_ptr cinfo, long count) {
    if (count <= 0) return;
    struct jpeg_source_mgr *source = cinfo->src;
    if ((unsigned long)count > source->bytes_in_buffer) source_fill(cinfo);
    source->next_input_byte += count;
    source->bytes_in_buffer -= (size_t)count;
}

static void source_term(j_decompress_ptr cinfo) { (void)cinfo; }

// A progressive file may hold thousands of tiny scans that each cost a pass over the whole image
// (a known CPU-exhaustion trick); stop past the caller's bound.
static void limit_scans(j_common_ptr cinfo) {
    struct media_jpeg_decoder *decoder = cinfo->client_data;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (decoder->max_scans != 0 && dinfo->input_scan_number > (int)decoder->max_scans) {
        snprintf(decoder->message, sizeof decoder->message,
                 "more than %u progressive scans", decoder->max_scans);
        longjmp(decoder->jump, 1);
    }
}

media_jpeg_decoder *media_jpeg_decoder_create(void) {
    struct media_jpeg_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) return NULL;
    decoder->cinfo.err = jpeg_std_error(&decoder->error);
    decoder->error.error_exit = decoder_error_exit;
    decoder->error.emit_message = quiet_message;
    decoder->error.output_message = quiet_output;
    decoder->cinfo.client_data = decoder;
    if (setjmp(decoder->jump)) {
        free(decoder);
        return NULL;
    }
    jpeg_create_decompress(&decoder->cinfo);
    decoder->created = 1;
    copy_message(decoder->message, sizeof decoder->message, "no error");
    return decoder;
}

void media_jpeg_decoder_destroy(media_jpeg_decoder *decoder) {
    if (decoder == NULL) return;
    if (decoder->created) jpeg_destroy_decompress(&decoder->cinfo);
    free(decoder->scanline);
    free(decoder);
}

const char *media_jpeg_decoder_message(const media_jpeg_decoder *decoder) {
    return decoder == NULL ? "out of memory" : decoder->message;
}

static int decoder_failure(const struct media_jpeg_decoder *decoder) {
    return decoder->truncated ? MEDIA_STATUS_TRUNCATED : MEDIA_STATUS_CORRUPT;
}

int media_jpeg_read_header(media_jpeg_decoder *decoder, const uint8_t *data, size_t size,
                           uint32_t max_scans, media_image_info *info) {
    if (decoder == NULL || data == NULL || info == NULL || decoder->header_read) return MEDIA_STATUS_INVALID;
    j_decompress_ptr cinfo = &decoder->cinfo;
    decoder->max_scans = max_scans;
    decoder->source.next_input_byte = data;
    decoder->source.bytes_in_buffer = size;
    decoder->source.init_source = source_init;
    decoder->source.fill_input_buffer = source_fill;
    decoder->source.skip_input_data = source_skip;
    decoder->source.resync_to_restart = jpeg_resync_to_restart;
    decoder->source.term_source = source_term;
    decoder->progress.progress_monitor = limit_scans;
    if (setjmp(decoder->jump)) return decoder_failure(decoder);
    cinfo->src = &decoder->source;
    cinfo->progress = &decoder->progress;
    jpeg_read_header(cinfo, TRUE);
    decoder->header_read = 1;

    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo->out_color_space = JCS_CMYK;
        decoder->cmyk = 1;
        break;
    default:
        if (cinfo->num_components != 3) {
            snprintf(decoder->message, sizeof decoder->message,
                     "unsupported colour space with %d components", cinfo->num_components);
            return MEDIA_STATUS_UNSUPPORTED;
        }
        cinfo->out_color_space = JCS_RGB;
        break;
    }
    info->width = cinfo->image_width;
    info->height = cinfo->image_height;
    info->channels = cinfo->out_color_space == JCS_GRAYSCALE ? 1 : 3;
    info->bit_depth = 8;
    info->interlaced = cinfo->progressive_mode ? 1 : 0;
    info->cmyk = decoder->cmyk;
    return MEDIA_STATUS_OK;
}

// Adobe applications store CMYK inverted (0 = full ink); that is what nearly every CMYK JPEG is.
static void cmyk_to_rgb(const JSAMPLE *cmyk, uint8_t *rgb, JDIMENSION width, int inverted) {
    for (JDIMENSION x = 0; x < width; x++) {
        unsigned c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        rgb[3 * x] = (uint8_t)((c * k + 127) / 255);
        rgb[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
        rgb[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
    }
}

int media_jpeg_read_pixels(media_jpeg_decoder *decoder, uint8_t *pixels, size_t row_bytes) {
    if (decoder == NULL || pixels == NULL || !decoder->header_read || decoder->started)
        return MEDIA_STATUS_INVALID;
    j_decompress_ptr cinfo = &decoder->cinfo;
    decoder->started = 1;
    if (setjmp(decoder->jump)) return decoder_failure(decoder);
    jpeg_start_decompress(cinfo);
    size_t needed = (size_t)cinfo->output_width * (decoder->cmyk ? 3 : (size_t)cinfo->output_components);
    if (row_bytes < needed) {
        copy_message(decoder->message, sizeof decoder->message, "destination rows are too short");
        return MEDIA_STATUS_INVALID;
    }
    if (decoder->cmyk) {
        decoder->scanline = malloc((size_t)cinfo->output_width * 4);
        if (decoder->scanline == NULL) {
            copy_message(decoder->message, sizeof decoder->message, "out of memory");
            return MEDIA_STATUS_NO_MEMORY;
        }
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *row = pixels + (size_t)cinfo->output_scanline * row_bytes;
        JSAMPROW target = decoder->cmyk ? decoder->scanline : row;
        if (jpeg_read_scanlines(cinfo, &target, 1) != 1) {
            decoder->truncated = 1;
            copy_message(decoder->message, sizeof decoder->message, "the data ends inside the image");
            return MEDIA_STATUS_TRUNCATED;
        }
        if (decoder->cmyk) cmyk_to_rgb(decoder->scanline, row, cinfo->output_width, cinfo->saw_Adobe_marker);
    }
    // Trailing data after the last scanline (markers, a missing EOI) is not worth failing for.
    jpeg_abort_decompress(cinfo);
    return MEDIA_STATUS_OK;
}

// MARK: Encoding

struct jpeg_encoder {
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr error;
    jmp_buf jump;
    unsigned char *output;
    unsigned long size;
    char message[JMSG_LENGTH_MAX];
};

static void encoder_error_exit(j_common_ptr cinfo) {
    struct jpeg_encoder *encoder = cinfo->client_data;
    cinfo->err->format_message(cinfo, encoder->message);
    longjmp(encoder->jump, 1);
}

int media_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels,
                      size_t row_bytes, int32_t quality, int32_t chroma_444, int32_t progressive,
                      uint8_t **output, size_t *output_size, char *message, size_t message_size) {
    if (pixels == NULL || output == NULL || output_size == NULL || width == 0 || height == 0 ||
        width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION || channels < 1 || channels == 2 || channels > 4) {
        copy_message(message, message_size, "invalid arguments");
        return MEDIA_STATUS_INVALID;
    }
    struct jpeg_encoder *encoder = calloc(1, sizeof *encoder);
    if (encoder == NULL) {
        copy_message(message, message_size, "out of memory");
        return MEDIA_STATUS_NO_MEMORY;
    }
    struct jpeg_compress_struct *cinfo = &encoder->cinfo;
    cinfo->err = jpeg_std_error(&encoder->error);
    encoder->error.error_exit = encoder_error_exit;
    encoder->error.emit_message = quiet_message;
    encoder->error.output_message = quiet_output;
    cinfo->client_data = encoder;
    if (setjmp(encoder->jump)) {
        copy_message(message, message_size, encoder->message);
        jpeg_destroy_compress(cinfo);
        free(encoder->output);
        free(encoder);
        return MEDIA_STATUS_INVALID;
    }
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, &encoder->output, &encoder->size);
    cinfo->image_width = width;
    cinfo->image_height = height;
    cinfo->input_components = channels;
    cinfo->in_color_space = channels == 1 ? JCS_GRAYSCALE : (channels == 3 ? JCS_RGB : JCS_CMYK);
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    cinfo->optimize_coding = TRUE;
    if (chroma_444 && channels == 3) {
        for (int i = 0; i < cinfo->num_components; i++) {
            cinfo->comp_info[i].h_samp_factor = 1;
            cinfo->comp_info[i].v_samp_factor = 1;
        }
    }
    if (progressive) jpeg_simple_progression(cinfo);
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo->next_scanline * row_bytes);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    jpeg_destroy_compress(cinfo);
    *output = encoder->output;
    *output_size = encoder->size;
    free(encoder);
    return MEDIA_STATUS_OK;
}
