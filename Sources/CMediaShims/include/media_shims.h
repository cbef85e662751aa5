// C shims over libpng and libjpeg. Both libraries report errors by longjmp, which Swift cannot
// catch; these functions keep every setjmp/longjmp inside C and return a status code instead.
// Decoding is split in two calls (header, then pixels) so that the caller can check the image
// size against its own limits and allocate the destination before any pixel memory is spent.
#ifndef MEDIA_SHIMS_H
#define MEDIA_SHIMS_H

#include <stddef.h>
#include <stdint.h>

/// Status codes shared by every shim function.
enum {
    MEDIA_STATUS_OK = 0,
    /// The data ended before the image did.
    MEDIA_STATUS_TRUNCATED = 1,
    /// The library rejected the data; the decoder's message says why.
    MEDIA_STATUS_CORRUPT = 2,
    /// Memory could not be allocated.
    MEDIA_STATUS_NO_MEMORY = 3,
    /// A valid file uses something these shims do not handle.
    MEDIA_STATUS_UNSUPPORTED = 4,
    /// The caller passed bad arguments (or called the functions out of order).
    MEDIA_STATUS_INVALID = 5,
    /// The header declares an image over the caller's limits (`info` holds its size).
    MEDIA_STATUS_TOO_LARGE = 6,
};

/// What a decoder will deliver, known after the header is read.
typedef struct {
    uint32_t width;
    uint32_t height;
    /// Interleaved channels delivered: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    int32_t channels;
    /// 8 or 16 bits per sample; 16-bit samples are delivered in native byte order.
    int32_t bit_depth;
    /// PNG: Adam7 interlaced. JPEG: progressive.
    int32_t interlaced;
    /// JPEG: the file is CMYK or YCCK (delivered converted to RGB).
    int32_t cmyk;
} media_image_info;

// MARK: PNG

typedef struct media_png_decoder media_png_decoder;

media_png_decoder *media_png_decoder_create(void);
void media_png_decoder_destroy(media_png_decoder *decoder);
/// The message of the last failure (never NULL).
const char *media_png_decoder_message(const media_png_decoder *decoder);
/// Reads the header; `data` must stay valid until the decoder is destroyed. An image wider or
/// taller than `max_side`, or with more than `max_pixels` pixels, is refused before libpng sets
/// up any row buffers. With `header_only`, the decoder is not prepared for `read_pixels` (and no
/// limit applies): enough to describe the file.
int media_png_read_header(media_png_decoder *decoder, const uint8_t *data, size_t size,
                          uint32_t max_side, uint64_t max_pixels, int32_t header_only,
                          media_image_info *info);
/// Decodes every row into `pixels` (height rows of `row_bytes` bytes each).
int media_png_read_pixels(media_png_decoder *decoder, uint8_t *pixels, size_t row_bytes);

/// Encodes interleaved samples (16-bit ones in native byte order) as PNG. On success `*output`
/// holds `*output_size` bytes that the caller releases with `media_free`. `message` receives the
/// reason of a failure.
int media_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels,
                     int32_t bit_depth, size_t row_bytes, int32_t compression_level,
                     uint8_t **output, size_t *output_size, char *message, size_t message_size);

// MARK: JPEG

typedef struct media_jpeg_decoder media_jpeg_decoder;

media_jpeg_decoder *media_jpeg_decoder_create(void);
void media_jpeg_decoder_destroy(media_jpeg_decoder *decoder);
const char *media_jpeg_decoder_message(const media_jpeg_decoder *decoder);
/// Reads the header; `data` must stay valid until the decoder is destroyed. `max_scans` bounds
/// the number of progressive scans (a CPU-exhaustion guard); 0 means no bound.
int media_jpeg_read_header(media_jpeg_decoder *decoder, const uint8_t *data, size_t size,
                           uint32_t max_scans, media_image_info *info);
/// Decodes every row into `pixels` as 8-bit gray or RGB (CMYK converted to RGB).
int media_jpeg_read_pixels(media_jpeg_decoder *decoder, uint8_t *pixels, size_t row_bytes);

/// Encodes 8-bit gray (1 channel), RGB (3 channels) or CMYK (4 channels, stored as given, with
/// an Adobe marker, i.e. in Adobe's inverted convention) as a JPEG with optimized Huffman tables. `quality` is 1...100; `chroma_444` keeps full-resolution chroma instead of 4:2:0.
int media_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels,
                      size_t row_bytes, int32_t quality, int32_t chroma_444, int32_t progressive,
                      uint8_t **output, size_t *output_size, char *message, size_t message_size);

/// Releases memory returned by the encoders.
void media_free(void *pointer);

#endif
