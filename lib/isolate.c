/*
 * isolate.c - calls served by a child process (see isolate.h).
 *
 * A request is a header {op, input length, output capacity} and the
 * input; an answer is {result, length} and then the output (result >= 0,
 * length = result) or the child's error message (result < 0).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "isolate.h"

struct mm_iso {
	mm_iso_serve serve;
	void *st;
	pid_t pid;
	int fd;                 /* the parent's end of the socket, -1 dead */
	char label[256], what[64];
	char dead[384];         /* why the child is gone, once it is */
};

struct req {
	int32_t op, pad;
	uint64_t inlen, outcap;
};

struct ans {
	int64_t rc;
	uint64_t len;
};

/* All n bytes of p sent to fd (send) or read from it; 0, or -1 when
 * the peer is gone (an end before them) or on an error. */
static int
xfer(int fd, char *p, size_t n, int send_)
{
	ssize_t k;

	while (n > 0) {
		k = send_ ? send(fd, p, n, MSG_NOSIGNAL) : read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
put(int fd, const void *p, size_t n)
{
	return xfer(fd, (char *)(uintptr_t)p, n, 1);
}

static int
get(int fd, void *p, size_t n)
{
	return xfer(fd, p, n, 0);
}

/* Grow *p to n bytes; 0 or -1. */
static int
grow(void **p, size_t *cap, size_t n)
{
	void *q;

	if (n <= *cap)
		return 0;
	if (!(q = realloc(*p, n)))
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* Close every descriptor but keep and stderr: those /proc/self/fd lists
 * (a few), or, without /proc, every number below the limit (thousands
 * of calls). */
static void
close_others(int keep)
{
	int fds[256], n = 0, f, i;
	long maxfd;
	DIR *d;
	struct dirent *e;

	if ((d = opendir("/proc/self/fd"))) {
		while ((e = readdir(d)) && n < 256)
			if (e->d_name[0] >= '0' && e->d_name[0] <= '9' &&
			    (f = atoi(e->d_name)) != dirfd(d))
				fds[n++] = f;
		closedir(d);
		if (n < 256) {
			for (i = 0; i < n; i++)
				if (fds[i] != keep && fds[i] != 2)
					close(fds[i]);
			return;
		}
	}
	maxfd = sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	for (f = 0; f < maxfd; f++)
		if (f != keep && f != 2)
			close(f);
}

/* The child: serve requests on fd until it closes. */
static void
child(struct mm_iso *c, int fd)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGSEGV,
	    SIGBUS, SIGFPE, SIGILL, SIGABRT };
	void *in = NULL, *out = NULL;
	size_t incap = 0, outcap = 0, i;
	int nul;

	/* the parent's files (its output among them) are not the child's:
	 * stdin and stdout become /dev/null, stderr stays for a sanitiser's
	 * report */
	for (i = 0; i < sizeof sigs / sizeof *sigs; i++)
		signal(sigs[i], SIG_DFL);
	close_others(fd);
	if ((nul = open("/dev/null", O_RDWR)) >= 0 && nul != 0)
		dup2(nul, 0);
	dup2(0, 1);
	if (nul > 1)
		close(nul);
	for (;;) {
		struct req q;
		struct ans a;
		const char *msg;
		int64_t rc;

		if (get(fd, &q, sizeof q) < 0)
			break;
		if (grow(&in, &incap, q.inlen ? q.inlen : 1) < 0)
			break;
		if (get(fd, in, q.inlen) < 0)
			break;
		if (grow(&out, &outcap, q.outcap ? q.outcap : 1) < 0)
			rc = mm_err(MM_ENOMEM, "out of memory");
		else
			rc = c->serve(c->st, q.op, in, q.inlen, out, q.outcap);
		if (rc > (int64_t)q.outcap)
			rc = mm_err(MM_EIO, "%s: a call wrote past its output",
			    c->label);
		a.rc = rc;
		msg = rc < 0 ? mm_errmsg() : NULL;
		a.len = rc < 0 ? strlen(msg) : (uint64_t)rc;
		if (put(fd, &a, sizeof a) < 0 ||
		    put(fd, rc < 0 ? msg : out, a.len) < 0)
			break;
	}
	_exit(0);
}

int
mm_iso_start(struct mm_iso **out, const char *label, const char *what,
    mm_iso_serve serve, void *st)
{
	struct mm_iso *c;
	int sv[2], big = 4 << 20;

	*out = NULL;
	if (!(c = calloc(1, sizeof *c)))
		return mm_err(MM_ENOMEM, "out of memory");
	c->serve = serve;
	c->st = st;
	c->fd = -1;
	snprintf(c->label, sizeof c->label, "%s", label);
	snprintf(c->what, sizeof c->what, "%s", what);
#ifndef MM_FUZZING
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		free(c);
		return mm_err(MM_EIO, "%s: cannot make a socket for its "
		    "reader: %s", label, strerror(errno));
	}
	/* answers of a few MiB (a batch of rows) in fewer turns */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	fflush(NULL);
	if ((c->pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		free(c);
		return mm_err(MM_EIO, "%s: cannot start its reader: %s", label,
		    strerror(errno));
	}
	if (c->pid == 0)
		child(c, sv[1]);
	close(sv[1]);
	c->fd = sv[0];
	fcntl(c->fd, F_SETFD, FD_CLOEXEC);
#else
	(void)sv;
	(void)big;
#endif
	*out = c;
	return 0;
}

/* The child is gone: why, kept for every later call. */
static int
died(struct mm_iso *c)
{
	int ws = 0;

	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		while (waitpid(c->pid, &ws, 0) < 0 && errno == EINTR)
			;
		c->pid = 0;
		if (WIFSIGNALED(ws))
			snprintf(c->dead, sizeof c->dead, "%s: %s crashed on "
			    "this file (signal %d, %s; corrupt?)", c->label,
			    c->what, WTERMSIG(ws), strsignal(WTERMSIG(ws)));
		else
			snprintf(c->dead, sizeof c->dead, "%s: %s ended "
			    "without answering (exit status %d; corrupt?)",
			    c->label, c->what, WIFEXITED(ws) ?
			    WEXITSTATUS(ws) : -1);
	}
	return mm_err(MM_EFORMAT, "%s", c->dead);
}

int
mm_iso_call(struct mm_iso *c, int op, const void *in, size_t inlen,
    void *out, size_t outcap, size_t *outlen)
{
	struct req q = { op, 0, inlen, outcap };
	struct ans a;
	char msg[512];
	size_t k;

	if (outlen)
		*outlen = 0;
#ifdef MM_FUZZING
	{
		int64_t rc = c->serve(c->st, op, in, inlen, out, outcap);

		if (rc >= 0 && outlen)
			*outlen = (size_t)rc;
		return rc < 0 ? (int)rc : 0;
	}
#endif
	if (c->fd < 0)
		return mm_err(MM_EFORMAT, "%s", c->dead);
	if (put(c->fd, &q, sizeof q) < 0 || put(c->fd, in, inlen) < 0 ||
	    get(c->fd, &a, sizeof a) < 0)
		return died(c);
	if (a.rc >= 0) {
		if (a.len > outcap || get(c->fd, out, a.len) < 0)
			return died(c);
		if (outlen)
			*outlen = a.len;
		return 0;
	}
	/* the child's message; a longer one is cut */
	k = a.len < sizeof msg - 1 ? a.len : sizeof msg - 1;
	if (get(c->fd, msg, k) < 0)
		return died(c);
	msg[k] = 0;
	for (; k < a.len; k++) {
		char skip;

		if (get(c->fd, &skip, 1) < 0)
			return died(c);
	}
	return mm_err(a.rc < -100 ? MM_EFORMAT : (int)a.rc, "%s", msg);
}

void
mm_iso_stop(struct mm_iso *c)
{
	if (!c)
		return;
	if (c->fd >= 0) {
		close(c->fd);
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	free(c);
}
