// libpng behind status codes. libpng reports fatal errors by calling the error function, which
// must not return: it longjmps back to the setjmp taken by the public function that is running.
// Everything that must be released after such a jump lives in the decoder struct (never in
// locals), so a jump can leak nothing.
#include "media_shims.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct media_png_decoder {
    png_structp png;
    png_infop info;
    jmp_buf jump;
    const uint8_t *data;
    size_t size;
    size_t offset;
    int truncated;
    int header_read;
    png_bytep *rows;
    uint32_t height;
    char message[256];
};

// PNG stores 16-bit samples big-endian; callers work with native ones.
static int host_is_little_endian(void) {
    const uint16_t probe = 1;
    return *(const uint8_t *)&probe == 1;
}

static void set_message(char *buffer, size_t size, const char *text) {
    if (buffer == NULL || size == 0) return;
    snprintf(buffer, size, "%s", text);
}

static void decoder_error(png_structp png, png_const_charp text) {
    struct media_png_decoder *decoder = png_get_error_ptr(png);
    if (!decoder->truncated) set_message(decoder->message, sizeof decoder->message, text);
    longjmp(decoder->jump, 1);
}

static void ignore_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void read_from_memory(png_structp png, png_bytep out, png_size_t count) {
    struct media_png_decoder *decoder = png_get_io_ptr(png);
    if (count > decoder->size - decoder->offset) {
        decoder->truncated = 1;
        set_message(decoder->message, sizeof decoder->message, "the data ends inside the image");
        png_error(png, "truncated");
    }
    memcpy(out, decoder->data + decoder->offset, count);
    decoder->offset += count;
}

media_png_decoder *media_png_decoder_create(void) {
    struct media_png_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) return NULL;
    decoder->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, decoder, decoder_error, ignore_warning);
    if (decoder->png == NULL) {
        free(decoder);
        return NULL;
    }
    decoder->info = png_create_info_struct(decoder->png);
    if (decoder->info == NULL) {
        png_destroy_read_struct(&decoder->png, NULL, NULL);
        free(decoder);
        return NULL;
    }
    set_message(decoder->message, sizeof decoder->message, "no error");
    return decoder;
}

void media_png_decoder_destroy(media_png_decoder *decoder) {
    if (decoder == NULL) return;
    png_destroy_read_struct(&decoder->png, &decoder->info, NULL);
    free(decoder->rows);
    free(decoder);
}

const char *media_png_decoder_message(const media_png_decoder *decoder) {
    return decoder == NULL ? "out of memory" : decoder->message;
}

static int failure_status(const struct media_png_decoder *decoder) {
    return decoder->truncated ? MEDIA_STATUS_TRUNCATED : MEDIA_STATUS_CORRUPT;
}

int media_png_read_header(media_png_decoder *decoder, const uint8_t *data, size_t size,
                          uint32_t max_side, uint64_t max_pixels, int32_t header_only,
                          media_image_info *info) {
    if (decoder == NULL || data == NULL || info == NULL || decoder->header_read) return MEDIA_STATUS_INVALID;
    decoder->data = data;
    decoder->size = size;
    decoder->offset = 0;
    if (setjmp(decoder->jump)) return failure_status(decoder);
    png_structp png = decoder->png;
    png_infop pinfo = decoder->info;
    png_set_read_fn(png, decoder, read_from_memory);
    // The caller enforces its own limits below; libpng's 1,000,000 per side default would reject
    // legitimate panoramas first, so allow what PNG itself allows.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, pinfo);

    int color_type = png_get_color_type(png, pinfo);
    int bit_depth = png_get_bit_depth(png, pinfo);
    int interlace = png_get_interlace_type(png, pinfo);
    int has_trns = png_get_valid(png, pinfo, PNG_INFO_tRNS) != 0;
    info->width = png_get_image_width(png, pinfo);
    info->height = png_get_image_height(png, pinfo);
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    info->cmyk = 0;
    // What the transforms below deliver: palettes and colour keys become alpha, low-bit gray 8-bit.
    switch (color_type) {
    case PNG_COLOR_TYPE_PALETTE: info->channels = 3 + has_trns; break;
    case PNG_COLOR_TYPE_GRAY: info->channels = 1 + has_trns; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: info->channels = 2; break;
    case PNG_COLOR_TYPE_RGB: info->channels = 3 + has_trns; break;
    default: info->channels = 4; break;
    }
    info->bit_depth = bit_depth == 16 ? 16 : 8;
    if (header_only) return MEDIA_STATUS_OK;
    if (info->width > max_side || info->height > max_side ||
        (uint64_t)info->width * info->height > max_pixels) {
        return MEDIA_STATUS_TOO_LARGE;
    }
    decoder->header_read = 1;

    // Deliver raw sample values (no gamma or colour-space handling): models were trained on the
    // stored values, and a round trip must be lossless.
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (has_trns) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16 && host_is_little_endian()) png_set_swap(png);  // PNG is big-endian; hand out native samples.
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);

    decoder->height = info->height;
    if ((int32_t)png_get_channels(png, pinfo) != info->channels || png_get_bit_depth(png, pinfo) != info->bit_depth) {
        set_message(decoder->message, sizeof decoder->message, "unexpected layout after expansion");
        return MEDIA_STATUS_UNSUPPORTED;
    }
    return MEDIA_STATUS_OK;
}

int media_png_read_pixels(media_png_decoder *decoder, uint8_t *pixels, size_t row_bytes) {
    if (decoder == NULL || pixels == NULL || !decoder->header_read || decoder->rows != NULL)
        return MEDIA_STATUS_INVALID;
    if (row_bytes < png_get_rowbytes(decoder->png, decoder->info)) {
        set_message(decoder->message, sizeof decoder->message, "destination rows are too short");
        return MEDIA_STATUS_INVALID;
    }
    decoder->rows = malloc(sizeof(png_bytep) * (decoder->height ? decoder->height : 1));
    if (decoder->rows == NULL) {
        set_message(decoder->message, sizeof decoder->message, "out of memory");
        return MEDIA_STATUS_NO_MEMORY;
    }
    for (uint32_t y = 0; y < decoder->height; y++) decoder->rows[y] = pixels + (size_t)y * row_bytes;
    if (setjmp(decoder->jump)) return failure_status(decoder);
    png_read_image(decoder->png, decoder->rows);
    return MEDIA_STATUS_OK;
}

// MARK: Encoding

struct png_encoder {
    png_structp png;
    png_infop info;
    jmp_buf jump;
    png_bytep *rows;
    uint8_t *output;
    size_t size;
    size_t capacity;
    int out_of_memory;
    char message[256];
};

static void encoder_error(png_structp png, png_const_charp text) {
    struct png_encoder *encoder = png_get_error_ptr(png);
    set_message(encoder->message, sizeof encoder->message, text);
    longjmp(encoder->jump, 1);
}

static void write_to_memory(png_structp png, png_bytep data, png_size_t count) {
    struct png_encoder *encoder = png_get_io_ptr(png);
    if (count > encoder->capacity - encoder->size) {
        size_t capacity = encoder->capacity ? encoder->capacity : 4096;
        while (count > capacity - encoder->size) {
            if (capacity > SIZE_MAX / 2) {
                encoder->out_of_memory = 1;
                png_error(png, "output too large");
            }
            capacity *= 2;
        }
        uint8_t *grown = realloc(encoder->output, capacity);
        if (grown == NULL) {
            encoder->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        encoder->output = grown;
        encoder->capacity = capacity;
    }
    memcpy(encoder->output + encoder->size, data, count);
    encoder->size += count;
}

static void flush_nothing(png_structp png) { (void)png; }

static void release_encoder(struct png_encoder *encoder, int keep_output) {
    png_destroy_write_struct(&encoder->png, &encoder->info);
    free(encoder->rows);
    if (!keep_output) free(encoder->output);
    free(encoder);
}

int media_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels,
                     int32_t bit_depth, size_t row_bytes, int32_t compression_level,
                     uint8_t **output, size_t *output_size, char *message, size_t message_size) {
    if (pixels == NULL || output == NULL || output_size == NULL || width == 0 || height == 0 ||
        channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16)) {
        set_message(message, message_size, "invalid arguments");
        return MEDIA_STATUS_INVALID;
    }
    struct png_encoder *encoder = calloc(1, sizeof *encoder);
    if (encoder == NULL) {
        set_message(message, message_size, "out of memory");
        return MEDIA_STATUS_NO_MEMORY;
    }
    encoder->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, encoder, encoder_error, ignore_warning);
    if (encoder->png != NULL) encoder->info = png_create_info_struct(encoder->png);
    encoder->rows = malloc(sizeof(png_bytep) * height);
    if (encoder->png == NULL || encoder->info == NULL || encoder->rows == NULL) {
        release_encoder(encoder, 0);
        set_message(message, message_size, "out of memory");
        return MEDIA_STATUS_NO_MEMORY;
    }
    if (setjmp(encoder->jump)) {
        int status = encoder->out_of_memory ? MEDIA_STATUS_NO_MEMORY : MEDIA_STATUS_INVALID;
        set_message(message, message_size, encoder->message);
        release_encoder(encoder, 0);
        return status;
    }
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                        PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_write_fn(encoder->png, encoder, write_to_memory, flush_nothing);
    png_set_user_limits(encoder->png, 0x7fffffff, 0x7fffffff);
    if (compression_level >= 0 && compression_level <= 9)
        png_set_compression_level(encoder->png, compression_level);
    png_set_IHDR(encoder->png, encoder->info, width, height, bit_depth, color_types[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(encoder->png, encoder->info);
    if (bit_depth == 16 && host_is_little_endian()) png_set_swap(encoder->png);  // native samples in, big-endian out.
    for (uint32_t y = 0; y < height; y++) encoder->rows[y] = (png_bytep)(pixels + (size_t)y * row_bytes);
    png_write_image(encoder->png, encoder->rows);
    png_write_end(encoder->png, NULL);
    *output = encoder->output;
    *output_size = encoder->size;
    release_encoder(encoder, 1);
    return MEDIA_STATUS_OK;
}

void media_free(void *pointer) { free(pointer); }
