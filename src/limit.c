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

/* Reads "DATE COUNT"; a file of another day, or an empty one, counts 0. */
static guint
limit_read(int fd, const char *today)
{
	char buf[64] = "";
	char date[16] = "";
	unsigned int count = 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%15s %u", date, &count) != 2 ||
	    strcmp(date, today) != 0)
		return 0;
	return count;
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
	fd = limit_open(run->config->state_dir, error);
	if (fd < 0)
		return FALSE;
	today = g_date_time_format(run->now, "%Y-%m-%d");
	if (flock(fd, LOCK_EX) != 0) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_DISK,
		    "daily counter: lock: %s", g_strerror(errno));
		goto out;
	}
	count = limit_read(fd, today);
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
