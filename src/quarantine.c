/*
 * quarantine.c: keeps a refused message in a Maildir for the administrator.
 * The write is tmp, fsync, link into new, fsync of the folder: only then may
 * m2wo exit 0. It never loses the message (any failure is a temporary one)
 * and never replaces a file already in the quarantine.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m2wo.h"

#define QUARANTINE_HEADER "X-M2WO-"

/* Skips a leading mbox "From " line: it would end up inside the header. */
static gsize
quarantine_skip_from(const char *data, gsize len)
{
	const char *nl;

	if (data == NULL || len < 5 || memcmp(data, "From ", 5) != 0)
		return 0;
	nl = memchr(data, '\n', len);
	return nl != NULL ? (gsize)(nl - data) + 1 : 0;
}

/* Our header lines end as the message's own first line does. */
static const char *
quarantine_eol(const char *data, gsize len)
{
	const char *nl = len > 0 ? memchr(data, '\n', len) : NULL;

	return nl != NULL && nl > data && nl[-1] == '\r' ? "\r\n" : "\n";
}

/* Header values must stay one line: control characters become spaces. */
static char *
quarantine_header_value(const char *text)
{
	char *value = g_strdup(text != NULL ? text : "-");
	char *p;

	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return value;
}

static gboolean
quarantine_mkdirs(const char *dir, GError **error)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	guint i;

	for (i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *path = g_build_filename(dir, subs[i], NULL);

		if (g_mkdir_with_parents(path, 0700) != 0) {
			g_set_error(error, M2WO_ERROR, M2WO_ERROR_DISK,
			    "quarantine: cannot create %s: %s", path,
			    g_strerror(errno));
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
m2wo_write_all(int fd, const char *data, gsize len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* Maildir's unique name: time, microseconds, pid, a per-process count
 * (--drop may quarantine many messages within one clock tick), host. */
static char *
quarantine_name(void)
{
	static guint sequence;
	gint64 now = g_get_real_time();
	g_autofree char *host = g_strdup(g_get_host_name());

	g_strdelimit(host, "/:", '_');
	return g_strdup_printf("%" G_GINT64_FORMAT ".M%06dP%dQ%u.%s",
	    now / G_USEC_PER_SEC, (int)(now % G_USEC_PER_SEC), (int)getpid(),
	    ++sequence, host);
}

/* Moves tmp into new without ever replacing a file already there: link(2)
 * fails on an existing name where rename(2) would silently overwrite it.
 * File systems without hard links fall back to rename. */
static gboolean
quarantine_publish(const char *tmp, const char *new)
{
	if (link(tmp, new) == 0) {
		/* The message is safe in new/ now; a stale tmp/ entry is
		 * harmless (Maildir readers clean tmp/ up). */
		unlink(tmp);
		return TRUE;
	}
	if (errno != EPERM && errno != ENOSYS && errno != EOPNOTSUPP &&
	    errno != EXDEV)
		return FALSE;
	return !g_file_test(new, G_FILE_TEST_EXISTS) && rename(tmp, new) == 0;
}

static gboolean
quarantine_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

/* Writes head and body into a new file tmp and syncs it; on failure the
 * file is gone and errno says why. */
static gboolean
quarantine_write_file(const char *tmp, const char *head, const char *body,
                      gsize len)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	gboolean ok;
	int saved;

	if (fd < 0)
		return FALSE;
	ok = m2wo_write_all(fd, head, strlen(head)) &&
	    m2wo_write_all(fd, body, len) && fsync(fd) == 0;
	saved = errno;
	ok = close(fd) == 0 && ok;
	if (!ok) {
		unlink(tmp);
		errno = saved;
	}
	return ok;
}

/* The message as it goes into the Maildir: without a leading mbox "From "
 * line, never NULL. */
static const char *
quarantine_body(const m2wo_run_t *run, gsize *len)
{
	const char *data = run->raw != NULL ?
	    g_bytes_get_data(run->raw, len) : NULL;
	gsize skip;

	if (data == NULL) {
		*len = 0;
		return "";
	}
	skip = quarantine_skip_from(data, *len);
	*len -= skip;
	return data + skip;
}

gboolean
quarantine_write(m2wo_run_t *run, const char *outcome, const char *reason,
                 GError **error)
{
	const char *dir = run->config->quarantine_dir;
	gsize len = 0;
	const char *body = quarantine_body(run, &len);
	const char *eol = quarantine_eol(body, len);
	g_autofree char *name = quarantine_name();
	g_autofree char *tmp = NULL, *new = NULL, *newdir = NULL;
	g_autofree char *o = quarantine_header_value(outcome);
	g_autofree char *r = quarantine_header_value(reason);
	g_autofree char *head = g_strdup_printf(QUARANTINE_HEADER "Outcome: %s%s"
	    QUARANTINE_HEADER "Reason: %s%s", o, eol, r, eol);
	int saved;

	if (dir == NULL || !quarantine_mkdirs(dir, error))
		goto fail_set;
	tmp = g_build_filename(dir, "tmp", name, NULL);
	new = g_build_filename(dir, "new", name, NULL);
	newdir = g_build_filename(dir, "new", NULL);
	if (!quarantine_write_file(tmp, head, body, len))
		goto fail;
	if (!quarantine_publish(tmp, new)) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	/* Only a synced folder makes the rename durable: until then the
	 * MTA must keep its copy (a retry may quarantine it twice). */
	if (!quarantine_sync_dir(newdir))
		goto fail;
	explain(run, "quarantined as %s", new);
	return TRUE;
fail:
	g_set_error(error, M2WO_ERROR, M2WO_ERROR_DISK,
	    "quarantine: cannot write %s: %s", tmp != NULL ? tmp : dir,
	    g_strerror(errno));
	return FALSE;
fail_set:
	if (error != NULL && *error == NULL)
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		    "quarantine_dir is not set");
	return FALSE;
}

/* Length of the line at data that starts with prefix (case-insensitive),
 * its line end included; 0 when it does not. */
static gsize
quarantine_our_line(const char *data, gsize len, const char *prefix)
{
	gsize plen = strlen(prefix);
	const char *nl;

	if (len <= plen || g_ascii_strncasecmp(data, prefix, plen) != 0)
		return 0;
	nl = memchr(data, '\n', len);
	return nl != NULL ? (gsize)(nl - data) + 1 : 0;
}

GBytes *
quarantine_strip(GBytes *raw)
{
	gsize len = 0, first, second;
	const char *data = g_bytes_get_data(raw, &len);

	/* Exactly the two lines quarantine_write puts in front, in its order:
	 * a message's own X-M2WO-* headers are left alone. */
	first = quarantine_our_line(data, len, QUARANTINE_HEADER "Outcome:");
	if (first == 0)
		return g_bytes_ref(raw);
	second = quarantine_our_line(data + first, len - first,
	    QUARANTINE_HEADER "Reason:");
	if (second == 0)
		return g_bytes_ref(raw);
	return g_bytes_new_from_bytes(raw, first + second,
	    len - first - second);
}
