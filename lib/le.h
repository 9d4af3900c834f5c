/*
 * le.h - little-endian integers in byte buffers, as the stream format
 * (mmib-stream(5)), ZIP and .npy headers store them; whatever the host's
 * byte order.
 */
#ifndef MM_LE_H
#define MM_LE_H

#include <stdint.h>

static inline uint16_t
mm_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
mm_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
mm_le64(const unsigned char *p)
{
	return (uint64_t)mm_le32(p) | (uint64_t)mm_le32(p + 4) << 32;
}

static inline void
mm_put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void
mm_put_le32(unsigned char *p, uint32_t v)
{
	mm_put_le16(p, (uint16_t)v);
	mm_put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void
mm_put_le64(unsigned char *p, uint64_t v)
{
	mm_put_le32(p, (uint32_t)v);
	mm_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
