/*
 * isolate.h - calls served by a child process, for code that cannot be
 * trusted not to crash on a corrupt input: libhdf5 1.10 dereferences what
 * a corrupt file's metadata says before checking it (a crafted file has
 * taken it to a NULL pointer inside H5Fopen's group lookup,
 * tests/fuzz/regress/h5/).  The reader runs in a child forked at
 * mm_iso_start(); a call sends (op, input bytes) over a socket and
 * receives (result, output bytes) or (error code, the child's one-line
 * message).  When the child dies instead of answering, the call returns
 * MM_EFORMAT naming the input and how the child died, and the process goes on.
 *
 * The child closes every descriptor but its socket and stderr, restores
 * the default signal actions, and ends when the socket closes
 * (mm_iso_stop() or the parent's exit).  A fuzzing build (MM_FUZZING)
 * serves calls in the process itself, where libFuzzer sees their
 * coverage and their crashes.
 */
#ifndef MM_ISOLATE_H
#define MM_ISOLATE_H

#include <stddef.h>
#include <stdint.h>

struct mm_iso;

/* A call, run in the child: op and in[0..inlen) from mm_iso_call(), st the
 * serve state (the child's copy of it).  Writes at most outcap bytes to
 * out and returns their count, or a negative MM_E* code after mm_err(). */
typedef int64_t (*mm_iso_serve)(void *st, int op, const void *in,
    size_t inlen, void *out, size_t outcap);

/* Start the child that serves calls with serve(st, ...); label names the
 * input and what the reader ("libhdf5") in errors: "label: what crashed
 * on this file (signal 11, Segmentation fault; corrupt?)". */
int mm_iso_start(struct mm_iso **out, const char *label, const char *what,
    mm_iso_serve serve, void *st);
/* Call op; the output (at most outcap bytes) into out, its length in
 * *outlen (may be NULL).  Returns 0, or the call's error, or MM_EFORMAT
 * when the child died (every later call then fails the same way). */
int mm_iso_call(struct mm_iso *c, int op, const void *in, size_t inlen,
    void *out, size_t outcap, size_t *outlen);
/* Close the socket and reap the child. */
void mm_iso_stop(struct mm_iso *c);

#endif
