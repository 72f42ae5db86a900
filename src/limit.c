/*
 * limit.c: the daily work-order limit. One small counter file in state_dir,
 * "YYYY-MM-DD COUNT", updated under an exclusive lock so that concurrent m2wo
 * processes count each work order once. It never lets a failure pass as
 * "under the limit": an unreadable counter is a temporary failure.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "m2wo.h"

#define LIMIT_FILE "daily-count"

/* Reads "DATE COUNT" into count; an empty file (new, or cut short by a
 * crash between truncate and write) or one of another day counts 0. A file
 * that cannot be read or makes no sense is an error, never "0 so far". */
static gboolean
limit_read(int fd, const char *today, guint *count, GError **error)
{
	char buf[64] = "";
	char date[16] = "";
	char end = '\0';
	unsigned int n = 0;
	ssize_t got = pread(fd, buf, sizeof buf - 1, 0);

	*count = 0;
	if (got < 0) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_DISK,
		    "daily counter: read: %s", g_strerror(errno));
		return FALSE;
	}
	buf[got] = '\0';
	if (got == 0)
		return TRUE;
	if (sscanf(buf, "%15s %u%c", date, &n, &end) != 3 || end != '\n') {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_DISK,
		    "daily counter: %s is not \"DATE COUNT\"", LIMIT_FILE);
		return FALSE;
	}
	if (strcmp(date, today) == 0)
		*count = n;
	return TRUE;
}

static gboolean
limit_store(int fd, const char *today, guint count)
{
	g_autofree char *line = g_strdup_printf("%s %u\n", today, count);
	gsize len = strlen(line);

	return ftruncate(fd, 0) == 0 &&
	    pwrite(fd, line, len, 0) == (ssize_t)len && fsync(fd) == 0;
}

static int
limit_open(const char *dir, GError **error)
{
	g_autofree char *path = g_build_filename(dir, LIMIT_FILE, NULL);
	int fd;

	if (g_mkdir_with_parents(dir, 0750) != 0 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_DISK,
		    "daily counter %s: %s", path, g_strerror(errno));
		return -1;
	}
	return fd;
}

gboolean
limit_take(m2wo_run_t *run, GError **error)
{
	guint limit = run->config->daily_limit;
	g_autofree char *today = NULL;
	gboolean ok = FALSE;
	guint count;
	int fd;

	if (limit == 0)
		return TRUE;
	if (run->config->state_dir == NULL || *run->config->state_dir == '\0') {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		    "daily_limit needs state_dir");
		return FALSE;
	}
	fd = limit_open(run->config->state_dir, error);
	if (fd < 0)
		return FALSE;
	today = g_date_time_format(run->now, "%Y-%m-%d");
	if (flock(fd, LOCK_EX) != 0) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_DISK,
		    "daily counter: lock: %s", g_strerror(errno));
		goto out;
	}
	if (!limit_read(fd, today, &count, error))
		goto out;
	if (count >= limit) {
		explain(run, "daily limit: %u of %u work orders today", count,
		    limit);
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_DAILY_LIMIT,
		    "daily limit of %u reached", limit);
		goto out;
	}
	if (!limit_store(fd, today, count + 1)) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_DISK,
		    "daily counter: write: %s", g_strerror(errno));
		goto out;
	}
	explain(run, "daily limit: work order %u of %u today", count + 1,
	    limit);
	ok = TRUE;
out:
	close(fd);	/* releases the lock */
	return ok;
}
