/* t-isolate.c - calls served by a child process (lib/isolate.c): answers
 * and errors come back, a child that crashes or exits becomes a one-line
 * error and the caller goes on, large answers arrive whole, and the child
 * holds none of the caller's descriptors. */
#define _DEFAULT_SOURCE 1      /* MAP_ANONYMOUS (h5-chunk.h) */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef MM_HAVE_HDF5
#include <hdf5.h>
#endif

#include "err.h"
#include "isolate.h"
#include "tap.h"
#ifdef MM_HAVE_HDF5
#include "h5-chunk.h"
#endif

enum { ECHO, FAIL, CRASH, QUIT, COUNT, BIG, LONGMSG, GUARD };

struct state {
	int calls;              /* calls served (the child's own count) */
};

static int64_t
serve(void *arg, int op, const void *in, size_t inlen, void *out,
    size_t outcap)
{
	struct state *st = arg;
	char msg[2000];
	size_t i;

	st->calls++;
	switch (op) {
	case ECHO:
		if (inlen > outcap)
			return mm_err(MM_ESIZE, "echo: %zu bytes, room for %zu",
			    inlen, outcap);
		memcpy(out, in, inlen);
		return (int64_t)inlen;
	case FAIL:
		return mm_err(MM_EMISSING, "served: no dataset '%s'",
		    (const char *)in);
	case CRASH:
		/* as a bad pointer would (a sanitiser's build catches
		 * the store itself and exits) */
		raise(SIGSEGV);
		return 0;
	case QUIT:
		_exit(3);
	case COUNT:
		memcpy(out, &st->calls, sizeof st->calls);
		return sizeof st->calls;
	case BIG:
		for (i = 0; i < outcap; i++)
			((unsigned char *)out)[i] = (unsigned char)(i * 7 + i / 251);
		return (int64_t)outcap;
#ifdef MM_HAVE_HDF5
	case GUARD: {
		/* the chunk buffer of h5-chunk.h: in (n, then 1 to write one
		 * byte past it); answers whether it ends at a page */
		struct mm_h5_gbuf g = { NULL, 0, 0 };
		int64_t a[2];
		volatile uint8_t *p;

		memcpy(a, in, sizeof a);
		if (!(p = mm_h5_gbuf_get(&g, (size_t)a[0])))
			return mm_err(MM_ENOMEM, "no buffer");
		memset((uint8_t *)p, 7, (size_t)a[0]);
		if (a[1])
			p[a[0]] = 7;
		*(char *)out = (uintptr_t)(p + a[0]) % g.page == 0;
		mm_h5_gbuf_free(&g);
		return 1;
	}
#endif
	case LONGMSG:
		memset(msg, 'x', sizeof msg - 1);
		msg[sizeof msg - 1] = 0;
		return mm_err(MM_EFORMAT, "%s", msg);
	}
	return mm_err(MM_EINVAL, "no op %d", op);
}

int
main(void)
{
	struct state st = { 0 };
	struct mm_iso *c, *d;
	char buf[64];
	unsigned char *big;
	size_t n, i, bad;
	int rc, calls = -1, p[2];
	ssize_t k;

	alarm(60);     /* a child holding the pipe would hang test 11 */
	plan(23);
	ok(mm_iso_start(&c, "file.h5", "the reader", serve, &st) == 0,
	    "a child starts");
	rc = mm_iso_call(c, ECHO, "hello", 6, buf, sizeof buf, &n);
	ok(rc == 0 && n == 6 && strcmp(buf, "hello") == 0,
	    "an answer comes back (%d, %zu bytes)", rc, n);
	rc = mm_iso_call(c, FAIL, "labels", 7, buf, sizeof buf, &n);
	is_int(rc, MM_EMISSING, "a call's error code comes back");
	is_str(mm_errmsg(), "served: no dataset 'labels'",
	    "... with the child's message");
	rc = mm_iso_call(c, ECHO, "0123456789", 10, buf, 4, &n);
	is_int(rc, MM_ESIZE, "an answer larger than the room is refused by "
	    "the child");
	rc = mm_iso_call(c, LONGMSG, "", 0, buf, sizeof buf, &n);
	ok(rc == MM_EFORMAT && strlen(mm_errmsg()) > 100 &&
	    strspn(mm_errmsg(), "x") == strlen(mm_errmsg()),
	    "a long message is cut, and the calls stay in step");
	mm_iso_call(c, COUNT, "", 0, &calls, sizeof calls, &n);
	/* the child's state is its own: it counted, the caller's did not */
	ok(calls == 5 && st.calls == 0, "the state is the child's (it counted "
	    "%d calls, the caller's copy %d)", calls, st.calls);

	/* 24 MiB in one answer, byte for byte */
	n = (size_t)24 << 20;
	big = malloc(n);
	rc = mm_iso_call(c, BIG, "", 0, big, n, &i);
	for (bad = 0; big && bad < n; bad++)
		if (big[bad] != (unsigned char)(bad * 7 + bad / 251))
			break;
	ok(rc == 0 && i == n && bad == n, "a 24 MiB answer arrives whole");
	free(big);

	/* the child holds no copy of the caller's descriptors: a pipe open
	 * when it starts (an output, say) ends when the caller closes its
	 * write end */
	mm_iso_stop(c);
	ok(pipe(p) == 0, "a pipe");
	ok(mm_iso_start(&c, "file.h5", "the reader", serve, &st) == 0,
	    "a child starts with the pipe open");
	close(p[1]);
	while ((k = read(p[0], buf, 1)) < 0 && errno == EINTR)
		;
	is_int(k, 0, "the pipe ends when the caller closes its write end "
	    "(the child closed its copy)");
	close(p[0]);

	/* a crash: one line, then every call fails the same way */
	rc = mm_iso_call(c, CRASH, "", 0, buf, sizeof buf, &n);
	is_int(rc, MM_EFORMAT, "a child that crashes is an error, not a "
	    "crash of the caller");
	ok(strncmp(mm_errmsg(), "file.h5: the reader crashed on this file "
	    "(signal 11, ", 53) == 0 && strstr(mm_errmsg(), "; corrupt?)") &&
	    !strchr(mm_errmsg(), '\n'), "... one line naming the file and "
	    "the signal: %s", mm_errmsg());
	rc = mm_iso_call(c, ECHO, "again", 6, buf, sizeof buf, &n);
	ok(rc == MM_EFORMAT && strstr(mm_errmsg(), "crashed on this file"),
	    "a later call gets the same error");
	mm_iso_stop(c);

	/* an exit without answering */
	ok(mm_iso_start(&d, "other.h5", "the reader", serve, &st) == 0,
	    "another child starts after one crashed");
	rc = mm_iso_call(d, QUIT, "", 0, buf, sizeof buf, &n);
	ok(rc == MM_EFORMAT && strcmp(mm_errmsg(), "other.h5: the reader "
	    "ended without answering (exit status 3; corrupt?)") == 0,
	    "an exit without an answer: %s", mm_errmsg());
	mm_iso_stop(d);

	/* two at once, each its own */
	mm_iso_start(&c, "a.h5", "the reader", serve, &st);
	mm_iso_start(&d, "b.h5", "the reader", serve, &st);
	mm_iso_call(c, ECHO, "x", 2, buf, sizeof buf, &n);
	mm_iso_call(c, ECHO, "y", 2, buf, sizeof buf, &n);
	mm_iso_call(c, COUNT, "", 0, &calls, sizeof calls, &n);
	is_int(calls, 3, "two children: the first counted its own calls");
	mm_iso_call(d, COUNT, "", 0, &calls, sizeof calls, &n);
	is_int(calls, 1, "... and the second its own");
	rc = mm_iso_call(d, CRASH, "", 0, buf, sizeof buf, &n);
	rc = mm_iso_call(c, ECHO, "z", 2, buf, sizeof buf, &n);
	ok(rc == 0 && strcmp(buf, "z") == 0, "one child's crash leaves the "
	    "other serving");
	mm_iso_stop(c);
	mm_iso_stop(d);
#ifdef MM_HAVE_HDF5
	/* a write one byte past an HDF5 chunk's buffer faults at once */
	{
		int64_t a[2] = { 768, 0 };
		char ends = 0;

		mm_iso_start(&c, "g.h5", "libhdf5", serve, &st);
		rc = mm_iso_call(c, GUARD, a, sizeof a, &ends, 1, &n);
		ok(rc == 0 && ends == 1, "a chunk buffer of 768 bytes ends "
		    "at its guard page");
		a[0] = 8192;
		rc = mm_iso_call(c, GUARD, a, sizeof a, &ends, 1, &n);
		ok(rc == 0 && ends == 1, "... and one of two whole pages");
		a[1] = 1;
		rc = mm_iso_call(c, GUARD, a, sizeof a, &ends, 1, &n);
		/* (under AddressSanitizer the fault is its report and exit
		 * status 1) */
		ok(rc == MM_EFORMAT && (strstr(mm_errmsg(), "g.h5: libhdf5 "
		    "crashed on this file (signal 11") ||
		    strstr(mm_errmsg(), "g.h5: libhdf5 ended without answering "
		    "(exit status 1")), "one byte written past it ends the "
		    "child: %s", mm_errmsg());
		mm_iso_stop(c);
	}
#else
	skip(3, "built without HDF5");
#endif
	/* the caller itself is still here to say so */
	ok(1, "the caller survived two crashes and an exit");
	return done_testing();
}
