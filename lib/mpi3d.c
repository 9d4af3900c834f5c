/* mpi3d.c - placeholder renderer (being written). */
#include <stdlib.h>
#include <string.h>
#include "gen.h"
void *mm_mpi3d_init(void) { return malloc(1); }
void mm_mpi3d_render(void *ctx, const int32_t *cls, uint8_t *img) { (void)ctx; (void)cls; memset(img, 0, 3*64*64); }
void mm_mpi3d_free(void *ctx) { free(ctx); }
