/*
 * sheet.h - contact sheets: a grid of images written as one PNG (libpng).
 */
#ifndef MM_SHEET_H
#define MM_SHEET_H

#include <stdint.h>
#include <stdio.h>

/* Write k images img (k, C, H, W) u8, C 1 (grey) or 3 (RGB), as a grid
 * of cols columns with a 2-pixel grey gutter.  Values are multiplied by
 * gain and clipped (gain 255 shows 0/1 images).  Rows are filled left to
 * right, top to bottom, in the order given. */
int mm_png_sheet(FILE *f, const uint8_t *img, int k, int C, int H, int W,
    int cols, int gain);

#endif
