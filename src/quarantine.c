/*
 * quarantine.c: keeps a refused message in a Maildir for the administrator.
 * The write is tmp, fsync, rename into new, fsync of the folder: only then may
 * m2wo exit 0. It never loses the message: any failure is a temporary one.
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

	if (len < 5 || memcmp(data, "From ", 5) != 0)
		return 0;
	nl = memchr(data, '\n', len);
	return nl != NULL ? (gsize)(nl - data) + 1 : 0;
}

/* Our header lines end as the message's own first line does. */
static const char *
quarantine_eol(const char *data, gsize len)
{
	const char *nl = memchr(data, '\n', len);

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

static gboolean
quarantine_write_all(int fd, const char *data, gsize len)
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

/* Maildir's unique name: time, microseconds, pid, host. */
static char *
quarantine_name(void)
{
	gint64 now = g_get_real_time();
	g_autofree char *host = g_strdup(g_get_host_name());

	g_strdelimit(host, "/:", '_');
	return g_strdup_printf("%" G_GINT64_FORMAT ".M%06dP%d.%s",
	    now / G_USEC_PER_SEC, (int)(now % G_USEC_PER_SEC), (int)getpid(),
	    host);
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

gboolean
quarantine_write(m2wo_run_t *run, const char *outcome, const char *reason,
                 GError **error)
{
	const char *dir = run->config->quarantine_dir;
	gsize len = 0;
	const char *data = g_bytes_get_data(run->raw, &len);
	gsize skip = quarantine_skip_from(data, len);
	const char *eol = quarantine_eol(data + skip, len - skip);
	g_autofree char *name = quarantine_name();
	g_autofree char *tmp = NULL, *new = NULL, *newdir = NULL;
	g_autofree char *o = quarantine_header_value(outcome);
	g_autofree char *r = quarantine_header_value(reason);
	g_autofree char *head = g_strdup_printf(QUARANTINE_HEADER "Outcome: %s%s"
	    QUARANTINE_HEADER "Reason: %s%s", o, eol, r, eol);
	gboolean ok;
	int fd;

	if (dir == NULL || !quarantine_mkdirs(dir, error))
		goto fail_set;
	tmp = g_build_filename(dir, "tmp", name, NULL);
	new = g_build_filename(dir, "new", name, NULL);
	newdir = g_build_filename(dir, "new", NULL);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	ok = quarantine_write_all(fd, head, strlen(head)) &&
	    quarantine_write_all(fd, data + skip, len - skip) &&
	    fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, new) != 0) {
		unlink(tmp);
		goto fail;
	}
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

GBytes *
quarantine_strip(GBytes *raw)
{
	gsize len = 0, off = 0;
	const char *data = g_bytes_get_data(raw, &len);

	/* Our header lines, and nothing else, stand in front of the original. */
	while (off < len && len - off > strlen(QUARANTINE_HEADER) &&
	    g_ascii_strncasecmp(data + off, QUARANTINE_HEADER,
	    strlen(QUARANTINE_HEADER)) == 0) {
		const char *nl = memchr(data + off, '\n', len - off);

		if (nl == NULL)
			break;
		off = (gsize)(nl - data) + 1;
	}
	if (off == 0)
		return g_bytes_ref(raw);
	return g_bytes_new_from_bytes(raw, off, len - off);
}
