/*
 * confsnap.c: the snapshot of a validated configuration, so that a run need
 * not parse and check the whole file again. It records, for the very file
 * and m2wo binary that were checked, what matching needs of each [config
 * NAME] group; a run then loads only [m2wo], [defaults] and the group that
 * matched. It never trusts a snapshot that does not fit both exactly, and
 * a snapshot that cannot be read or written only costs the full load.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "m2wo.h"

#define CONFSNAP_NAME  "config.snapshot"
#define CONFSNAP_MAGIC "M2WOSNP\001"     /* 8 bytes; the last is the format */
/* A file with 1,000 configurations gives about 100 KB; this cap only
 * bounds what an untrusted file can make m2wo read. */
#define CONFSNAP_MAX_SIZE (16 * M2WO_MAX_CONFIG_SIZE)

/* What the text scan sees of a group: lines of [m2wo] and [defaults] (and
 * any before the first group) go into every reduced text. */
typedef enum { SECT_KEEP, SECT_CONFIG, SECT_OTHER } sect_kind_t;

/* A run of lines from one group header to the next. */
typedef struct {
	sect_kind_t kind;
	int first;               /* line numbers, from 1; 0: not counted */
	int last;
	gsize start;             /* bytes of the text, [start, end) */
	gsize end;
} sect_t;

struct m2wo_confsnap {
	char *text;              /* the configuration as read */
	GArray *sects;           /* sect_t, file order */
	char *data;              /* the snapshot file; stub strings point in */
	m2wo_mailconf_t *stubs;  /* one per [config NAME] group */
	guint n_stubs;
	char **values;           /* every stub's sender_values, one block */
};

/* ---------------------------------------------------------- the text scan */

/* Whether line [p, end) is a group header (conf_group_line, as the full
 * scan decides), and which kind. */
static gboolean
sect_header(const char *p, const char *end, sect_kind_t *kind)
{
	gsize len;

	if (!conf_group_line(p, end, &p, &len))
		return FALSE;
	if ((len == 4 && memcmp(p, "m2wo", 4) == 0)
	    || (len == 8 && memcmp(p, "defaults", 8) == 0))
		*kind = SECT_KEEP;
	else if ((len == 6 || (len > 6 && p[6] == ' '))
	         && memcmp(p, "config", 6) == 0)
		*kind = SECT_CONFIG;
	else
		*kind = SECT_OTHER;
	return TRUE;
}

/* Sections found, added to the array in batches: one call each cost as
 * much as finding it. */
typedef struct {
	GArray *sects;
	sect_t batch[64];
	guint n;
} sect_list_t;

/* Ends the current section where the next header starts; an empty one
 * (a header on the first line) is left out. */
static void
sect_close(sect_list_t *list, sect_t *cur, gsize at, gboolean last)
{
	cur->end = at;
	if (cur->end > cur->start)
		list->batch[list->n++] = *cur;
	if (list->n == G_N_ELEMENTS(list->batch) || last) {
		g_array_append_vals(list->sects, list->batch, list->n);
		list->n = 0;
	}
}

/* The sections by their bytes alone. A header's line starts with "["
 * after blanks, so a search for "[" finds them all, and far faster than
 * a walk over every line. Line numbers are left for later. */
static GArray *
sect_find(const char *text, gsize len)
{
	sect_list_t list = { .sects = g_array_new(FALSE, FALSE, sizeof(sect_t)) };
	sect_t cur = { SECT_KEEP, 0, 0, 0, 0 };
	const char *end = text + len;
	const char *p = text;

	while (p < end && (p = memchr(p, '[', end - p)) != NULL) {
		const char *bol = p;
		const char *eol;
		sect_t next = { 0 };

		while (bol > text && bol[-1] != '\n' && g_ascii_isspace(bol[-1]))
			bol--;
		if (bol > text && bol[-1] != '\n') {
			p++;
			continue;
		}
		if ((eol = memchr(p, '\n', end - p)) == NULL)
			eol = end;
		if (sect_header(bol, eol, &next.kind)) {
			sect_close(&list, &cur, bol - text, FALSE);
			next.start = bol - text;
			cur = next;
		}
		p = eol;
	}
	sect_close(&list, &cur, len, TRUE);
	return list.sects;
}

static int
count_lines(const char *p, const char *end)
{
	const char *nl;
	int n = 0;

	while ((nl = memchr(p, '\n', end - p)) != NULL) {
		n++;
		p = nl + 1;
	}
	return n;
}

/* Counts the line numbers of the sections up to the last one kept (which
 * comes first in most files); the snapshot gives the others. */
static void
sect_count(const char *text, GArray *sects)
{
	guint upto = 0;
	int line = 1;

	for (guint i = 0; i < sects->len; i++)
		if (g_array_index(sects, sect_t, i).kind == SECT_KEEP)
			upto = i + 1;
	for (guint i = 0; i < upto; i++) {
		sect_t *s = &g_array_index(sects, sect_t, i);

		s->first = line;
		line += count_lines(text + s->start, text + s->end);
	}
}

/* Every section with its line numbers, for writing a snapshot. The last
 * section also holds the empty line after a final line end, as confscan.c
 * counts it. */
static GArray *
sect_scan(const char *text, gsize len)
{
	GArray *sects = sect_find(text, len);
	int line = 1;

	for (guint i = 0; i < sects->len; i++) {
		sect_t *s = &g_array_index(sects, sect_t, i);

		s->first = line;
		line += count_lines(text + s->start, text + s->end);
		s->last = i + 1 < sects->len ? line - 1 : line;
	}
	return sects;
}

/* The groups of the sections kept, and section keep (G_MAXUINT: none),
 * one after the other, with a mark where each starts. New string. */
static char *
sect_join(const char *text, GArray *sects, guint keep, GArray *marks)
{
	GString *out = g_string_sized_new(4096);

	for (guint i = 0; i < sects->len; i++) {
		const sect_t *s = &g_array_index(sects, sect_t, i);
		m2wo_line_mark_t mark = { out->len, s->first };

		if (s->kind != SECT_KEEP && i != keep)
			continue;
		g_array_append_val(marks, mark);
		g_string_append_len(out, text + s->start, s->end - s->start);
	}
	return g_string_free(out, FALSE);
}

/* config_load_text on the sections kept and section keep. */
static m2wo_config_t *
sect_load(const char *path, const char *text, GArray *sects, guint keep,
          GPtrArray *problems)
{
	g_autoptr(GArray) marks = g_array_new(FALSE, FALSE,
	                                      sizeof(m2wo_line_mark_t));
	g_autofree char *part = sect_join(text, sects, keep, marks);

	return config_load_text(path, part, (m2wo_line_mark_t *)marks->data,
	                        marks->len, problems);
}

/* ------------------------------------------------------------ the format */

static void
put_u64(GString *out, guint64 v)
{
	g_string_append_len(out, (const char *)&v, sizeof v);
}

static void
put_u32(GString *out, guint32 v)
{
	g_string_append_len(out, (const char *)&v, sizeof v);
}

/* With its NUL, so that a stub can point into the snapshot. */
static void
put_str(GString *out, const char *s)
{
	put_u32(out, (guint32)strlen(s));
	g_string_append_len(out, s, strlen(s) + 1);
}

static void
put_stat(GString *out, const struct stat *st, gboolean ctime)
{
	put_u64(out, st->st_dev);
	put_u64(out, st->st_ino);
	put_u64(out, st->st_size);
	put_u64(out, st->st_mtim.tv_sec);
	put_u64(out, st->st_mtim.tv_nsec);
	if (ctime) {
		put_u64(out, st->st_ctim.tv_sec);
		put_u64(out, st->st_ctim.tv_nsec);
	}
}

/* What a snapshot must start with to belong to this m2wo and this file:
 * the same bytes, or it is not used. FALSE when m2wo cannot tell which
 * binary it is. */
static gboolean
snap_header(GString *out, const char *path, const struct stat *st)
{
	g_autofree char *abs = g_canonicalize_filename(path, NULL);
	struct stat exe;

	if (stat("/proc/self/exe", &exe) < 0)
		return FALSE;
	g_string_append_len(out, CONFSNAP_MAGIC, 8);
	put_str(out, PACKAGE_VERSION);
	put_stat(out, &exe, FALSE);
	put_str(out, abs);
	put_stat(out, st, TRUE);
	return TRUE;
}

static void
put_sects(GString *out, GArray *sects)
{
	put_u32(out, sects->len);
	for (guint i = 0; i < sects->len; i++) {
		const sect_t *s = &g_array_index(sects, sect_t, i);

		put_u32(out, s->kind);
		put_u32(out, s->first);
		put_u32(out, s->last);
		put_u64(out, s->start);
		put_u64(out, s->end);
	}
}

/* The sender_type goes by its place in match.c's table: only the same
 * binary reads the snapshot. */
static void
put_conf(GString *out, const m2wo_mailconf_t *conf)
{
	guint32 n = g_strv_length(conf->sender_values);
	guint32 at = 0;

	while (match_nth(at) != conf->matcher)
		at++;
	put_u32(out, at);
	put_str(out, conf->name);
	put_u32(out, conf->active);
	put_u32(out, n);
	for (guint32 i = 0; i < n; i++)
		put_str(out, conf->sender_values[i]);
}

/* Each configuration in file order, the i-th on the i-th [config NAME]
 * section; FALSE when the text scan and config.c do not agree. */
static gboolean
put_confs(GString *out, const m2wo_config_t *config, GArray *sects)
{
	GPtrArray *confs = config->mailconfs;
	guint32 values = 0;
	guint at = 0;

	for (guint i = 0; i < confs->len; i++)
		values += g_strv_length(((m2wo_mailconf_t *)
		                         confs->pdata[i])->sender_values);
	put_u32(out, confs->len);
	put_u32(out, values);
	for (guint i = 0; i < sects->len; i++) {
		const sect_t *s = &g_array_index(sects, sect_t, i);
		const m2wo_mailconf_t *conf;

		if (s->kind != SECT_CONFIG)
			continue;
		if (at == confs->len)
			return FALSE;
		conf = g_ptr_array_index(confs, at++);
		if (conf->line != s->first || conf->matcher == NULL)
			return FALSE;
		put_conf(out, conf);
	}
	return at == confs->len;
}

/* --------------------------------------------------------------- writing */

static char *
snap_path(const m2wo_config_t *config)
{
	if (config->state_dir == NULL || *config->state_dir == '\0')
		return NULL;
	return g_build_filename(config->state_dir, CONFSNAP_NAME, NULL);
}

/* A temporary file renamed over the old one: a reader sees the old
 * snapshot or the new one, never half of one. No fsync: a snapshot lost
 * in a crash is only rebuilt. */
static void
snap_save(const char *path, const GString *data)
{
	g_autofree char *tmp = g_strconcat(path, ".XXXXXX", NULL);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
	gboolean ok;

	if (fd < 0)
		return;
	ok = m2wo_write_all(fd, data->str, data->len);
	if (close(fd) < 0)
		ok = FALSE;
	if (!ok || rename(tmp, path) < 0)
		unlink(tmp);
}

/* Whether a is at or after b. */
static gboolean
timespec_not_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/* Whether the file changed so recently that it could change again within
 * the same clock tick, its time stamps unmoved ("racily clean", as git
 * says): such a file gets a snapshot only once it is a second old, and
 * every later change then moves its time stamps. */
static gboolean
snap_racy(const struct stat *st)
{
	struct timespec now;

	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		return TRUE;
	now.tv_sec -= 1;
	return timespec_not_before(&st->st_mtim, &now) ||
	       timespec_not_before(&st->st_ctim, &now);
}

void
confsnap_write(const m2wo_config_t *config, const char *text, gsize len,
               const struct stat *st)
{
	g_autofree char *path = snap_path(config);
	g_autoptr(GString) out = NULL;
	g_autoptr(GArray) sects = NULL;

	/* A file that changed while it was read is not the one in st. */
	if (path == NULL || len != (gsize)st->st_size || snap_racy(st))
		return;
	out = g_string_sized_new(4096);
	sects = sect_scan(text, len);
	if (!snap_header(out, config->path, st))
		return;
	put_sects(out, sects);
	if (!put_confs(out, config, sects) || out->len > CONFSNAP_MAX_SIZE)
		return;
	snap_save(path, out);
}

/* --------------------------------------------------------------- reading */

/* The snapshot file; NULL when absent, not a plain file or too large. */
static char *
snap_read(const char *path, gsize *len)
{
	struct stat st;
	char *buf = NULL;
	gsize got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW
	              | O_NONBLOCK);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
	    && st.st_size <= CONFSNAP_MAX_SIZE) {
		buf = g_malloc((gsize)st.st_size + 1);
		while (got < (gsize)st.st_size) {
			ssize_t n = read(fd, buf + got, (gsize)st.st_size - got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (gsize)n;
		}
		if (got != (gsize)st.st_size)
			g_clear_pointer(&buf, g_free);
	}
	close(fd);
	*len = got;
	return buf;
}

/* The snapshot is untrusted input: every read checks what is left, and
 * a failed one leaves ok FALSE for good. */
typedef struct {
	const char *p;
	gsize left;
	gboolean ok;
} cursor_t;

static gboolean
get_bytes(cursor_t *c, void *out, gsize n)
{
	if (!c->ok || c->left < n) {
		c->ok = FALSE;
		return FALSE;
	}
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
	return TRUE;
}

static guint32
get_u32(cursor_t *c)
{
	guint32 v = 0;

	get_bytes(c, &v, sizeof v);
	return v;
}

static guint64
get_u64(cursor_t *c)
{
	guint64 v = 0;

	get_bytes(c, &v, sizeof v);
	return v;
}

/* A string of the snapshot, in place; NULL when it does not fit or does
 * not end in a NUL. */
static const char *
get_str(cursor_t *c)
{
	guint32 len = get_u32(c);
	const char *s = c->p;

	if (!c->ok || len >= c->left || s[len] != '\0') {
		c->ok = FALSE;
		return NULL;
	}
	c->p += len + 1;
	c->left -= len + 1;
	return s;
}

/* The snapshot's sections must be the ones found in the text, byte for
 * byte, with line numbers that run on and agree where they were counted. */
static void
get_sects(cursor_t *c, GArray *sects)
{
	int line = 1;

	if (get_u32(c) != sects->len)
		c->ok = FALSE;
	for (guint i = 0; i < sects->len && c->ok; i++) {
		sect_t *s = &g_array_index(sects, sect_t, i);
		guint32 kind = get_u32(c);
		gint64 first = get_u32(c);
		gint64 last = get_u32(c);

		if (kind != s->kind || first != line || last < first
		    || last > G_MAXINT || (s->first != 0 && s->first != first)
		    || get_u64(c) != s->start || get_u64(c) != s->end)
			c->ok = FALSE;
		s->first = (int)first;
		s->last = (int)last;
		line = (int)last + 1;
	}
}

/* One stub, on section s: what match.c reads. */
static void
get_stub(cursor_t *c, m2wo_mailconf_t *conf, const sect_t *s,
         char **values, guint32 *left)
{
	const m2wo_matcher_t *matcher = match_nth(get_u32(c));
	const char *name = get_str(c);
	gboolean active = get_u32(c) != 0;
	guint32 n = get_u32(c);

	/* Set whole: the rest of a stub is zero. */
	*conf = (m2wo_mailconf_t){
		.stub = TRUE, .name = (char *)name, .line = s->first,
		.last_line = s->last, .active = active,
	};
	if (!c->ok || matcher == NULL || *name == '\0' || n >= *left
	    || (matcher->regex && n != 1)) {
		c->ok = FALSE;
		return;
	}
	conf->matcher = matcher;
	conf->sender_values = values;
	for (guint32 i = 0; i < n; i++)
		values[i] = (char *)get_str(c);
	values[n] = NULL;
	*left -= n + 1;
}

/* A stub for each [config NAME] section, in order. */
static void
get_stubs(cursor_t *c, m2wo_confsnap_t *snap, GArray *sects)
{
	guint32 n = get_u32(c);
	guint32 values = get_u32(c);
	guint32 left;
	guint at = 0;

	/* Each stub takes 20 bytes and more, each value 5 and more. */
	if (!c->ok || n > c->left / 20 || values > c->left / 5) {
		c->ok = FALSE;
		return;
	}
	snap->stubs = g_new(m2wo_mailconf_t, n);
	snap->values = g_new0(char *, values + n);
	left = values + n;
	for (guint i = 0; i < sects->len && c->ok; i++) {
		const sect_t *s = &g_array_index(sects, sect_t, i);

		if (s->kind != SECT_CONFIG)
			continue;
		if (at == n) {
			c->ok = FALSE;
			break;
		}
		get_stub(c, &snap->stubs[at++], s,
		         snap->values + (values + n - left), &left);
	}
	snap->n_stubs = c->ok ? at : 0;
	if (at != n || left != 0 || c->left != 0)
		c->ok = FALSE;
}

/* Reads the snapshot that belongs to path as read (st) into snap; FALSE
 * when there is none that fits. */
static gboolean
snap_fill(m2wo_confsnap_t *snap, const m2wo_config_t *config,
          const char *path, const struct stat *st)
{
	g_autofree char *file = snap_path(config);
	g_autoptr(GString) want = g_string_sized_new(256);
	cursor_t c = { 0 };
	gsize len = 0;

	if (file == NULL || !snap_header(want, path, st)
	    || (snap->data = snap_read(file, &len)) == NULL || len < want->len
	    || memcmp(snap->data, want->str, want->len) != 0)
		return FALSE;
	c.p = snap->data + want->len;
	c.left = len - want->len;
	c.ok = TRUE;
	get_sects(&c, snap->sects);
	get_stubs(&c, snap, snap->sects);
	return c.ok;
}

m2wo_config_t *
confsnap_load(const char *path, char **text, gsize len,
              const struct stat *st)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	m2wo_confsnap_t *snap = g_new0(m2wo_confsnap_t, 1);
	g_autoptr(m2wo_config_t) config = NULL;

	if (len != (gsize)st->st_size) {
		g_free(snap);
		return NULL;
	}
	snap->sects = sect_find(*text, len);
	sect_count(*text, snap->sects);
	config = sect_load(path, *text, snap->sects, G_MAXUINT, problems);
	/* A problem here is the full load's to report. */
	if (config == NULL || !snap_fill(snap, config, path, st)) {
		confsnap_free(snap);
		return NULL;
	}
	g_ptr_array_set_size(config->mailconfs, snap->n_stubs);
	for (guint i = 0; i < snap->n_stubs; i++)
		config->mailconfs->pdata[i] = &snap->stubs[i];
	snap->text = g_steal_pointer(text);
	config->snapshot = snap;
	return g_steal_pointer(&config);
}

/* ------------------------------------------------------- loading a stub */

static void
expand_failed(const m2wo_config_t *config, GPtrArray *problems,
              GError **error)
{
	g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG, "configuration: %s",
	            problems->len > 0 ? (char *)problems->pdata[0]
	                              : config->path);
}

/* The section of a stub: the [config NAME] one on its first line. */
static guint
stub_sect(const m2wo_confsnap_t *snap, const m2wo_mailconf_t *stub)
{
	for (guint i = 0; i < snap->sects->len; i++) {
		const sect_t *s = &g_array_index(snap->sects, sect_t, i);

		if (s->kind == SECT_CONFIG && s->first == stub->line)
			return i;
	}
	return G_MAXUINT;
}

m2wo_mailconf_t *
confsnap_expand(m2wo_config_t *config, guint i, GError **error)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	m2wo_confsnap_t *snap = config->snapshot;
	m2wo_mailconf_t *stub = g_ptr_array_index(config->mailconfs, i);
	g_autoptr(m2wo_config_t) one = sect_load(config->path, snap->text,
	                                         snap->sects,
	                                         stub_sect(snap, stub), problems);
	m2wo_mailconf_t *full;

	if (one == NULL || one->mailconfs->len != 1
	    || strcmp(((m2wo_mailconf_t *)one->mailconfs->pdata[0])->name,
	              stub->name) != 0) {
		expand_failed(config, problems, error);
		return NULL;
	}
	full = g_ptr_array_steal_index(one->mailconfs, 0);
	/* The matcher may have compiled sender_value already. */
	if (full->sender_code == NULL)
		full->sender_code = g_steal_pointer(&stub->sender_code);
	config->mailconfs->pdata[i] = full;
	return full;
}

void
confsnap_free(m2wo_confsnap_t *snap)
{
	if (snap == NULL)
		return;
	for (guint i = 0; i < snap->n_stubs; i++)
		g_clear_pointer(&snap->stubs[i].sender_code, pcre2_code_free);
	g_free(snap->stubs);
	g_free(snap->values);
	g_free(snap->data);
	g_free(snap->text);
	g_clear_pointer(&snap->sects, g_array_unref);
	g_free(snap);
}
