/* SSIMULACRA2 in C: the same algorithm as optimal-image's numpy handler/quality/ssim2.py.
 *
 * Images are 8-bit sRGB, interleaved RGB, rows `stride` bytes apart (stride >= 3 * width).
 * A reference holds the original's side of every scale, so each score pays only for the
 * distorted image. Functions are reentrant: one reference may be scored from many threads.
 */
#ifndef SSIM2_H
#define SSIM2_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ssim2_ref ssim2_ref;

/* Error codes returned by ssim2_score (and reported by ssim2_ref_new through *error). */
enum { SSIM2_OK = 0, SSIM2_EINVAL = -1, SSIM2_ENOMEM = -2, SSIM2_ESIZE = -3 };

/* Prepare an original. NULL on bad arguments or out of memory (the reason in *error if non-NULL).
 * Images under 8 pixels on a side are accepted: they have no scale to compare and score 100. */
ssim2_ref *ssim2_ref_new(const uint8_t *rgb, size_t height, size_t width, size_t stride, int *error);

/* SSIMULACRA2 of a distorted image (same size as the reference) into *score; 100 = identical.
 * Returns SSIM2_OK or a negative error code. Frees everything it allocates before returning. */
int ssim2_score(const ssim2_ref *ref, const uint8_t *rgb, size_t height, size_t width, size_t stride,
                double *score);

void ssim2_ref_free(ssim2_ref *ref);

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
