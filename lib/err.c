/* err.c - the last error's detail, kept for the tool to report. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static char errbuf[512];

int
mm_err(int code, const char *fmt, ...)
{
	char tmp[sizeof errbuf];
	va_list ap;

	/* through a copy: a caller may pass mm_errmsg() as an argument, to
	 * prefix the message it replaces */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	memcpy(errbuf, tmp, sizeof errbuf);
	return code;
}

const char *
mm_errmsg(void)
{
	return errbuf[0] ? errbuf : "unknown error";
}

const char *
mm_strerror(int code)
{
	switch (code) {
	case MM_OK: return "success";
	case MM_EIO: return "input/output error";
	case MM_ENOMEM: return "out of memory";
	case MM_ETRUNC: return "truncated stream";
	case MM_EMAGIC: return "bad magic";
	case MM_EVERSION: return "unsupported format version";
	case MM_EHCRC: return "header CRC mismatch";
	case MM_EBCRC: return "body CRC mismatch";
	case MM_ESIZE: return "impossible size or shape";
	case MM_EDTYPE: return "unsupported dtype";
	case MM_EKIND: return "unknown critical record kind";
	case MM_EEND: return "end record disagrees with its segment";
	case MM_EZSTD: return "zstd error";
	case MM_EFORMAT: return "malformed content";
	case MM_EEMPTY: return "empty input";
	case MM_EINVAL: return "invalid value";
	case MM_EMISSING: return "missing field";
	case MM_ENUM: return "numerical failure";
	case MM_EUNSUP: return "not supported";
	}
	return "unknown error";
}
