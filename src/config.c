/*
 * config.c: loads m2wo.conf (a GLib key file, SPEC 3) into an m2wo_config_t:
 * reads the file, has confscan.c, confmain.c and confmail.c check all of
 * it, and hands every problem over as "FILE:LINE: problem", in line order.
 * It also reads the token files; no token is ever put into a problem, an
 * error message or a log.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "m2wo.h"
#include "confload.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

/* ------------------------------------------------------------- problems */

typedef struct {
	int line;                /* 0 when the problem has none */
	char *text;              /* "FILE:LINE: problem" */
} problem_t;

static void problem_free(problem_t *p)
{
	g_free(p->text);
	g_free(p);
}

/* A problem is one line of output: a control character in a value (a
 * "\n" escape, a stray CR) is shown as an escape, never written out, so
 * that it cannot break the line or forge another one. New string. */
static char *problem_one_line(const char *text)
{
	GString *out = g_string_new(NULL);

	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\n')
			g_string_append(out, "\\n");
		else if (g_ascii_iscntrl(*p))
			g_string_append_printf(out, "\\x%02x", (guchar)*p);
		else
			g_string_append_c(out, *p);
	}
	return g_string_free(out, FALSE);
}

/* Records "FILE:LINE: text"; a problem that several configurations inherit
 * from [defaults] is said once. */
void conf_problem(load_t *ld, int line, const char *fmt, ...)
{
	g_autofree char *raw = NULL;
	g_autofree char *text = NULL;
	problem_t *p;
	va_list ap;

	va_start(ap, fmt);
	raw = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	text = problem_one_line(raw);
	p = g_new0(problem_t, 1);
	p->line = line;
	p->text = line > 0 ? g_strdup_printf("%s:%d: %s", ld->path, line, text)
	                   : g_strdup_printf("%s: %s", ld->path, text);
	for (guint i = 0; i < ld->found->len; i++) {
		problem_t *q = g_ptr_array_index(ld->found, i);

		if (strcmp(q->text, p->text) == 0) {
			problem_free(p);
			return;
		}
	}
	g_ptr_array_add(ld->found, p);
}

static gint problem_cmp(gconstpointer a, gconstpointer b)
{
	const problem_t *pa = *(problem_t *const *)a;
	const problem_t *pb = *(problem_t *const *)b;

	return (pa->line > pb->line) - (pa->line < pb->line);
}

/* Hands the problems over in line order, as an admin reads the file;
 * the sort is stable, so one line's problems keep their order. */
static void problems_hand_over(load_t *ld, GPtrArray *problems)
{
	g_ptr_array_sort(ld->found, problem_cmp);
	for (guint i = 0; i < ld->found->len; i++) {
		problem_t *p = g_ptr_array_index(ld->found, i);

		g_ptr_array_add(problems, g_steal_pointer(&p->text));
	}
}

/* --------------------------------------------------------------- loading */

static m2wo_config_t *config_new(const char *path)
{
	m2wo_config_t *c = g_new0(m2wo_config_t, 1);

	c->path = g_strdup(path);
	c->api_url = g_strdup(M2WO_DEF_API_URL);
	c->request_timeout = M2WO_DEF_REQUEST_TIMEOUT;
	c->deadline = M2WO_DEF_DEADLINE;
	c->max_message_size = M2WO_DEF_MAX_MESSAGE_SIZE;
	c->workorder_no = g_strdup(M2WO_DEF_WORKORDER_NO);
	c->dedupe = M2WO_DEDUPE_API;
	c->on_unmatched = M2WO_POLICY_BOUNCE;
	c->on_autoreply = M2WO_POLICY_DISCARD;
	c->on_reject = M2WO_POLICY_BOUNCE;
	c->state_dir = g_strdup(LOCALSTATEDIR "/lib/m2wo");
	c->syslog_facility = LOG_MAIL;
	c->mailconfs = g_ptr_array_new_with_free_func((GDestroyNotify)mailconf_free);
	return c;
}

void config_free(m2wo_config_t *config)
{
	if (config == NULL)
		return;
	g_free(config->path);
	g_free(config->api_url);
	g_free(config->token_file);
	g_free(config->software_token_file);
	g_free(config->bearer_token_file);
	g_free(config->ca_file);
	g_free(config->workorder_no);
	g_free(config->quarantine_dir);
	g_free(config->state_dir);
	g_free(config->audit_file);
	g_ptr_array_unref(config->mailconfs);
	confsnap_free(config->snapshot);
	g_free(config);
}

/* Reads at most max + 1 bytes of fd into a new NUL-terminated buffer of
 * max + 2 bytes; *len > max tells that there was more. NULL on a read
 * error, with errno set. */
static char *read_bounded(int fd, gsize max, gsize *len)
{
	char *buf = g_malloc0(max + 2);
	ssize_t n;

	*len = 0;
	while (*len <= max) {
		n = read(fd, buf + *len, max + 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			memset(buf, 0, max + 2);
			g_free(buf);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		*len += (gsize)n;
	}
	return buf;
}

/* The text, its length and, in st, what file it came from (for
 * confsnap.c). */
static char *read_text(load_t *ld, struct stat *st, gsize *len)
{
	g_autofree char *text = NULL;
	int fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, st) < 0) {
		conf_problem(ld, 0, "cannot read: %s", g_strerror(errno));
	} else if (!S_ISREG(st->st_mode)) {
		conf_problem(ld, 0, "cannot read: not a regular file");
	} else if ((text = read_bounded(fd, M2WO_MAX_CONFIG_SIZE, len)) == NULL) {
		conf_problem(ld, 0, "cannot read: %s", g_strerror(errno));
	} else if (*len > M2WO_MAX_CONFIG_SIZE) {
		conf_problem(ld, 0, "cannot read: larger than %d bytes",
		             M2WO_MAX_CONFIG_SIZE);
		g_clear_pointer(&text, g_free);
	} else if (memchr(text, '\0', *len) != NULL) {
		conf_problem(ld, 0, "cannot read: holds a NUL byte");
		g_clear_pointer(&text, g_free);
	}
	if (fd >= 0)
		close(fd);
	return g_steal_pointer(&text);
}

static gboolean parse_text(load_t *ld, const char *text)
{
	g_autoptr(GError) error = NULL;

	if (!scan_text(ld, text))
		return FALSE;
	/* GKeyFile refuses empty data; an empty file is just an empty one. */
	if (*text == '\0')
		return TRUE;
	if (!g_key_file_load_from_data(ld->kf, text, strlen(text),
	                               G_KEY_FILE_NONE, &error)) {
		/* The scan above mirrors GKeyFile; this is what it missed. */
		conf_problem(ld, 0, "%s", error->message);
		return FALSE;
	}
	return TRUE;
}


static void load_check_tokens(load_t *ld);

static void load_init(load_t *ld, const char *path, gboolean compile_all)
{
	g_autofree char *dir = g_path_get_dirname(path);

	ld->path = path;
	ld->found = g_ptr_array_new_with_free_func((GDestroyNotify)problem_free);
	ld->compile_all = compile_all;
	ld->groups = g_ptr_array_new_with_free_func((GDestroyNotify)scan_group_free);
	ld->group_index = g_hash_table_new(g_str_hash, g_str_equal);
	ld->kf = g_key_file_new();
	ld->dir = g_canonicalize_filename(dir, NULL);
	ld->config = config_new(path);
	ld->confs = g_ptr_array_new_with_free_func((GDestroyNotify)conf_load_free);
	ld->conf_names = g_hash_table_new(g_str_hash, g_str_equal);
	ld->fields = g_hash_table_new(g_str_hash, g_str_equal);
}

static m2wo_config_t *load_finish(load_t *ld, GPtrArray *problems)
{
	if (ld->compile_all && ld->found->len > 0)
		load_check_tokens(ld);
	g_key_file_free(ld->kf);
	g_hash_table_unref(ld->group_index);
	g_ptr_array_unref(ld->confs);
	g_hash_table_unref(ld->conf_names);
	g_hash_table_unref(ld->fields);
	g_ptr_array_unref(ld->groups);
	g_free(ld->scanned);
	g_free(ld->dir);
	if (ld->found->len > 0)
		g_clear_pointer(&ld->config, config_free);
	problems_hand_over(ld, problems);
	g_ptr_array_unref(ld->found);
	return g_steal_pointer(&ld->config);
}

m2wo_config_t *config_load_text(const char *path, const char *text,
                                const m2wo_line_mark_t *marks, guint n_marks,
                                GPtrArray *problems)
{
	load_t ld = { 0 };

	load_init(&ld, path, FALSE);
	ld.reduced = TRUE;
	ld.marks = marks;
	ld.n_marks = n_marks;
	if (parse_text(&ld, text))
		conf_load_all(&ld);
	return load_finish(&ld, problems);
}

/* Without compile_all (a run, not --check-config) the snapshot saves
 * checking the whole file again while neither it nor m2wo changed. */
m2wo_config_t *config_load(const char *path, gboolean compile_all,
                           GPtrArray *problems)
{
	load_t ld = { 0 };
	g_autofree char *text = NULL;
	m2wo_config_t *config = NULL;
	struct stat st;
	gsize len = 0;

	load_init(&ld, path, compile_all);
	text = read_text(&ld, &st, &len);
	if (text != NULL && !compile_all)
		config = confsnap_load(path, &text, len, &st);
	if (config != NULL) {
		config_free(load_finish(&ld, problems));
		return config;
	}
	if (text != NULL && parse_text(&ld, text))
		conf_load_all(&ld);
	config = load_finish(&ld, problems);
	if (config != NULL && !compile_all)
		confsnap_write(config, text, len, &st);
	return config;
}

/* ----------------------------------------------------------------- tokens */

/* Opens a token file and checks it on the descriptor, so that nothing can
 * be swapped in between: a regular file that only its owner may use. */
static int token_open(const char *path, GError **error)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "%s: cannot read: %s", path, g_strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "%s: not a regular file", path);
	else if ((st.st_mode & 077) != 0)
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "%s: readable by others (chmod 600)", path);
	else
		return fd;
	close(fd);
	return -1;
}

static void token_wipe(char *token)
{
	if (token == NULL)
		return;
	memset(token, 0, strlen(token));
	g_free(token);
}

/* Why a token cannot be one, or NULL. It goes into a URL query, so one
 * word on one line. */
static const char *token_invalid(const char *token, gsize len)
{
	if (len > M2WO_MAX_TOKEN_SIZE)
		return "too large for a token";
	if (*token == '\0')
		return "empty";
	for (const char *p = token; *p != '\0'; p++)
		if (g_ascii_iscntrl(*p) || *p == ' ')
			return "holds more than one word or line";
	return NULL;
}

/* Error messages read "PATH: why" and never hold the token. */
static char *token_load(const char *path, GError **error)
{
	char *buf, *token;
	const char *why;
	gsize len = 0;
	int fd = token_open(path, error);

	if (fd < 0)
		return NULL;
	buf = read_bounded(fd, M2WO_MAX_TOKEN_SIZE, &len);
	if (buf == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "%s: cannot read: %s", path, g_strerror(errno));
		close(fd);
		return NULL;
	}
	close(fd);
	why = token_invalid(g_strstrip(buf), len);
	token = why == NULL ? g_strdup(buf) : NULL;
	memset(buf, 0, M2WO_MAX_TOKEN_SIZE + 2);
	g_free(buf);
	if (why != NULL)
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG, "%s: %s", path, why);
	return token;
}

char *config_read_token(const char *path, GError **error)
{
	GError *local = NULL;
	char *token = token_load(path, &local);

	if (token == NULL) {
		g_prefix_error(&local, "token file ");
		g_propagate_error(error, local);
	}
	return token;
}

static void check_token(const m2wo_config_t *config, const char *key,
                        const char *path, int line, GPtrArray *problems)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	char *token;

	if (path == NULL)
		return;
	token = token_load(path, &error);
	if (token != NULL) {
		token_wipe(token);
		return;
	}
	if (line > 0)
		text = g_strdup_printf("%s:%d: %s %s", config->path, line, key,
		                       error->message);
	else
		text = g_strdup_printf("%s: %s %s", config->path, key,
		                       error->message);
	g_ptr_array_add(problems, problem_one_line(text));
}

/* A file with other problems gives --check-config no configuration to
 * hand to config_check_tokens; its token files are checked here instead,
 * so that the administrator sees every problem in one go. */
static void load_check_tokens(load_t *ld)
{
	const m2wo_config_t *c = ld->config;
	const struct {
		const char *key;
		const char *path;
		int line;
	} keys[] = {
		{ "token_file", c->token_file, c->token_file_line },
		{ "software_token_file", c->software_token_file,
		  c->software_token_file_line },
		{ "bearer_token_file", c->bearer_token_file,
		  c->bearer_token_file_line },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autoptr(GError) error = NULL;

		if (keys[i].path == NULL)
			continue;
		token_wipe(token_load(keys[i].path, &error));
		if (error != NULL)
			conf_problem(ld, keys[i].line, "%s %s", keys[i].key,
			             error->message);
	}
}

gboolean config_check_tokens(const m2wo_config_t *config, GPtrArray *problems)
{
	guint before = problems->len;

	check_token(config, "token_file", config->token_file,
	            config->token_file_line, problems);
	check_token(config, "software_token_file", config->software_token_file,
	            config->software_token_file_line, problems);
	check_token(config, "bearer_token_file", config->bearer_token_file,
	            config->bearer_token_file_line, problems);
	return problems->len == before;
}
