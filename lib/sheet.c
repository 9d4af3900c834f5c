/*
 * sheet.c - contact sheet writer over libpng (see sheet.h; named so that
 * it does not shadow libpng's <png.h> on the -Ilib include path).
 */
#include <stdlib.h>
#include <string.h>
#include <png.h>

#include "err.h"
#include "sheet.h"

#define GUTTER 2
#define GREY 96

int
mm_png_sheet(FILE *f, const uint8_t *img, int k, int C, int H, int W,
    int cols, int gain)
{
	png_structp png;
	png_infop info;
	unsigned char *pix = NULL;
	png_bytep *rowp = NULL;
	int rows, SW, SH, i, y, x, c;
	size_t isz = (size_t)C * H * W;

	if (k < 1 || cols < 1 || (C != 1 && C != 3) || H < 1 || W < 1)
		return mm_err(MM_EINVAL, "contact sheet: nothing to draw");
	if (cols > k)
		cols = k;
	rows = (k + cols - 1) / cols;
	SW = cols * W + (cols + 1) * GUTTER;
	SH = rows * H + (rows + 1) * GUTTER;
	if ((pix = malloc((size_t)SW * SH * 3)) == NULL ||
	    (rowp = malloc(sizeof *rowp * SH)) == NULL) {
		free(pix);
		return mm_err(MM_ENOMEM, "out of memory");
	}
	memset(pix, GREY, (size_t)SW * SH * 3);
	for (i = 0; i < k; i++) {
		int ox = GUTTER + (i % cols) * (W + GUTTER);
		int oy = GUTTER + (i / cols) * (H + GUTTER);
		const uint8_t *s = img + i * isz;
		for (y = 0; y < H; y++)
			for (x = 0; x < W; x++)
				for (c = 0; c < 3; c++) {
					int v = s[(size_t)(C == 1 ? 0 : c) * H * W +
					    (size_t)y * W + x] * gain;
					pix[((size_t)(oy + y) * SW + ox + x) * 3 + c] =
					    (unsigned char)(v > 255 ? 255 : v);
				}
	}
	for (y = 0; y < SH; y++)
		rowp[y] = pix + (size_t)y * SW * 3;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	if (!png || !info) {
		png_destroy_write_struct(&png, NULL);
		free(pix);
		free(rowp);
		return mm_err(MM_ENOMEM, "png: out of memory");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(pix);
		free(rowp);
		return mm_err(MM_EIO, "png: write failed");
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, SW, SH, 8, PNG_COLOR_TYPE_RGB,
	    PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
	    PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	png_write_image(png, rowp);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(pix);
	free(rowp);
	return 0;
}
