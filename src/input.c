/*
 * input.c: reads one message (standard input or a file) into memory.
 * Size comes first: never more than max + 1 bytes are read, so that an
 * oversize message is refused (M2WO_ERROR_TOO_LARGE) before anything parses
 * it and without unbounded memory. I/O failures are temporary.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m2wo.h"

#define INPUT_CHUNK (64 * 1024)

G_DEFINE_QUARK(m2wo-error-quark, m2wo_error)

/* Waits until fd has data (or its end) to read, at most until deadline_us
 * (monotonic; 0: no limit). FALSE with errno on error, ETIMEDOUT when the
 * deadline passed. */
static gboolean
input_wait_readable(int fd, gint64 deadline_us)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		int timeout = -1, n;

		if (deadline_us != 0) {
			gint64 left = deadline_us - g_get_monotonic_time();

			timeout = left > 0 ? (int) MIN((left + 999) / 1000,
			                               (gint64) G_MAXINT) : 0;
		}
		n = poll(&pfd, 1, timeout);
		if (n > 0)
			return TRUE;
		if (n == 0) {
			errno = ETIMEDOUT;
			return FALSE;
		}
		if (errno != EINTR)
			return FALSE;
	}
}

/* One read(2) that survives signals and non-blocking descriptors, and
 * waits no longer than deadline_us (0: no limit): a sender that stops
 * before the end must not hold the run past its deadline. Returns the
 * byte count, 0 at end of file, -1 with errno on failure. */
static gssize
input_read_some(int fd, guint8 *buf, gsize want, gint64 deadline_us)
{
	for (;;) {
		gssize n;

		if (deadline_us != 0 && !input_wait_readable(fd, deadline_us))
			return -1;
		n = read(fd, buf, want);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
		    input_wait_readable(fd, deadline_us))
			continue;
		return -1;
	}
}

GBytes *
input_read_fd(int fd, gsize max, gint64 deadline_us, GError **error)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	/* One byte more than allowed tells "exactly max" from "too much". */
	gsize limit = max < G_MAXSIZE ? max + 1 : max;

	while (buf->len < limit) {
		gsize want = MIN((gsize) INPUT_CHUNK, limit - buf->len);
		guint old = buf->len;
		gssize n;

		g_byte_array_set_size(buf, old + want);
		n = input_read_some(fd, buf->data + old, want, deadline_us);
		if (n < 0 && errno == ETIMEDOUT) {
			g_set_error(error, M2WO_ERROR, M2WO_ERROR_DEADLINE,
			            "the message did not end within the deadline "
			            "(%u bytes read)",
			            old);
			return NULL;
		}
		if (n < 0) {
			int saved = errno;

			g_set_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL,
			            "cannot read the message: %s",
			            g_strerror(saved));
			return NULL;
		}
		g_byte_array_set_size(buf, old + (guint) n);
		if (n == 0)
			break;
	}
	if (buf->len > max) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE,
		            "message larger than %" G_GSIZE_FORMAT " bytes", max);
		return NULL;
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

GBytes *
input_read_file(const char *path, gsize max, GError **error)
{
	struct stat st;
	GBytes *bytes;
	int fd;

	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int saved = errno;

		g_set_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL,
		            "cannot open %s: %s", path, g_strerror(saved));
		return NULL;
	}
	/* A regular file's size answers the question without reading it. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (guint64) st.st_size > (guint64) max) {
		close(fd);
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE,
		            "%s: message larger than %" G_GSIZE_FORMAT " bytes",
		            path, max);
		return NULL;
	}
	bytes = input_read_fd(fd, max, 0, error);
	close(fd);
	if (bytes == NULL)
		g_prefix_error(error, "%s: ", path);
	return bytes;
}
