/* SSIMULACRA2 in C: the same algorithm as optimal-image's numpy handler/quality/ssim2.py.
 *
 * Images are 8-bit sRGB, interleaved RGB (or RGBX), rows `stride` bytes apart.
 * A reference holds the original's side of every scale, so each score pays only for the
 * distorted image. Functions are reentrant: one reference may be scored from many threads,
 * each with its own scratch memory.
 */
#ifndef SSIM2_H
#define SSIM2_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ssim2_ref ssim2_ref;

/* Error codes returned by ssim2_ref_init and ssim2_score. */
enum { SSIM2_OK = 0, SSIM2_EINVAL = -1, SSIM2_ESIZE = -3 };

/* The kernel allocates nothing: the caller passes in all the memory it works in, sized by these two
 * (0 for a size the kernel does not take), so that it can reuse it from call to call. `ssim2_ref_bytes`
 * holds a prepared original; `ssim2_work_bytes` is the scratch memory of one call (ssim2_ref_init or
 * ssim2_score), which may be reused once the call returns; threads scoring at once each need their own. */
size_t ssim2_ref_bytes(size_t height, size_t width);
size_t ssim2_work_bytes(size_t height, size_t width);

/* Prepare an original into `memory` (at least ssim2_ref_bytes, aligned for a pointer); it stays valid as
 * long as that memory does, and is never freed by the kernel. Pixels are `pixel_bytes` apart: 3 (RGB) or
 * 4 (RGBX, the fourth byte unread). Images under 8 pixels on a side are accepted: they have no scale to
 * compare and score 100. Returns SSIM2_OK or a negative error code. */
int ssim2_ref_init(void *memory, size_t memory_bytes, const uint8_t *rgb, size_t height, size_t width,
                   size_t stride, size_t pixel_bytes, void *work, size_t work_bytes);

/* SSIMULACRA2 of a distorted image (same size as the reference prepared in `reference`) into *score;
 * 100 = identical. Returns SSIM2_OK or a negative error code. */
int ssim2_score(const void *reference, const uint8_t *rgb, size_t height, size_t width, size_t stride,
                size_t pixel_bytes, void *work, size_t work_bytes, double *score);

/* Code path: SSIM2_PATH_AUTO picks AVX2+FMA when the CPU has it, else the baseline; the
 * environment variable SSIM2_FORCE_BASELINE=1 (read once, on first use) starts it on the
 * baseline. ssim2_set_path returns the path now in use (SSIM2_PATH_BASELINE or _AVX2). */
enum { SSIM2_PATH_AUTO = 0, SSIM2_PATH_BASELINE = 1, SSIM2_PATH_AVX2 = 2 };
int ssim2_set_path(int path);
int ssim2_get_path(void);

#ifdef __cplusplus
}
#endif

#endif
