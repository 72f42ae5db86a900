/*
 * config.c: loads m2wo.conf (a GLib key file, SPEC 3) into an m2wo_config_t,
 * validating all of it and reporting every problem as "FILE:LINE: problem".
 * GKeyFile keeps no line numbers, so the text is scanned here with GKeyFile's
 * own rules to find them. It also reads the token files; no token is ever
 * put into a problem, an error message or a log.
 */
#include "m2wo.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#define GROUP_MAIN     "m2wo"
#define GROUP_DEFAULTS "defaults"
#define CONFIG_PREFIX  "config"

/* ------------------------------------------------------------ the text scan */

/* The known keys of a [config NAME] or [defaults] group, in the order of
 * mailconf_keys. */
enum {
	MK_DESCRIPTION, MK_ACTIVE, MK_SENDER_TYPE, MK_SENDER_VALUE,
	MK_CUSTOMER_RULES, MK_FORCED_DEBTOR_NUMBER, MK_CREATE_RELATION,
	MK_PARSE_ATTACHMENTS, MK_ATTACH_ORIGINAL, MK_COUNT
};

/* A group with more keys than this gets a table to find them by name;
 * smaller ones, nearly all, are searched in a row. */
#define SCAN_INDEX_FROM 32

/* Where a key sits in the file. A key written twice counts where GKeyFile
 * takes its value from: the last time. */
typedef struct {
	const char *key;         /* in the scanned copy of the text */
	int line;
	/* What the key is, sorted once by classify_keys. */
	int known;               /* index in the group's key list, or -1 */
	const char *prefix;      /* "regex." and so, else NULL */
	const char *suffix;      /* the part after prefix */
	gboolean name_ok;        /* suffix is a valid parameter name */
	gboolean field_known;    /* forced.FIELD: a field m2wo may set */
} scan_key_t;

/* One group as GKeyFile sees it: repeated headers merge into one. */
typedef struct {
	const char *name;        /* in the scanned copy of the text */
	int line;                /* first header */
	GArray *keys;            /* scan_key_t, first-seen order */
	GHashTable *index;       /* key -> position + 1, for large groups */
	gboolean classified;
	const scan_key_t *slot[MK_COUNT]; /* known keys of a mail config group */
} scan_group_t;

typedef struct {
	int line;                /* 0 when the problem has none */
	char *text;              /* "FILE:LINE: problem" */
} problem_t;

/* What loading one configuration leaves for the template checks. */
typedef struct {
	m2wo_mailconf_t *conf;
	const scan_group_t *group;
	guint own_forced;        /* conf->forced[0 .. own_forced) are its own */
	const char **rule_names; /* its regex rule names, NULL-terminated */
} conf_load_t;

/* Everything one config_load needs. */
typedef struct {
	const char *path;
	char *dir;               /* relative paths in values are relative to it */
	GPtrArray *found;        /* problem_t *, handed over in line order */
	gboolean compile_all;
	gboolean reduced;        /* config_load_text: groups left out */
	const m2wo_line_mark_t *marks; /* its pieces' line numbers */
	guint n_marks;
	GKeyFile *kf;
	char *scanned;           /* the text, cut into names by the scan */
	GPtrArray *groups;       /* scan_group_t *, file order */
	GHashTable *group_index; /* name -> scan_group_t * */
	scan_group_t *main;      /* [m2wo], or NULL */
	scan_group_t *defaults;  /* [defaults], or NULL */
	m2wo_config_t *config;
	GPtrArray *confs;        /* conf_load_t *, one per mailconf, same order */
	GHashTable *conf_names;  /* NAME of each mailconf (its conf->name) */
	GHashTable *fields;      /* forced.FIELD name -> workorder_field_known */
} load_t;

static void scan_group_free(scan_group_t *group)
{
	g_array_unref(group->keys);
	if (group->index != NULL)
		g_hash_table_unref(group->index);
	g_free(group);
}

static void conf_load_free(conf_load_t *cl)
{
	g_free(cl->rule_names);
	g_free(cl);
}

static void problem(load_t *ld, int line, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

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
static void problem(load_t *ld, int line, const char *fmt, ...)
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

static scan_group_t *scan_group_new(load_t *ld, const char *name, int line)
{
	scan_group_t *group = g_new0(scan_group_t, 1);

	group->name = name;
	group->line = line;
	group->keys = g_array_sized_new(FALSE, FALSE, sizeof(scan_key_t), 16);
	g_ptr_array_add(ld->groups, group);
	g_hash_table_insert(ld->group_index, (char *)name, group);
	return group;
}

/* The key named name in group, or NULL; group may be NULL. */
static scan_key_t *scan_key_find(const scan_group_t *group, const char *name)
{
	guint at;

	if (group == NULL)
		return NULL;
	if (group->index != NULL) {
		at = GPOINTER_TO_UINT(g_hash_table_lookup(group->index, name));
		return at > 0 ? &g_array_index(group->keys, scan_key_t, at - 1)
		              : NULL;
	}
	for (at = 0; at < group->keys->len; at++) {
		scan_key_t *k = &g_array_index(group->keys, scan_key_t, at);

		if (strcmp(k->key, name) == 0)
			return k;
	}
	return NULL;
}

static void scan_index_add(scan_group_t *group, guint at)
{
	g_hash_table_insert(group->index,
	                    (char *)g_array_index(group->keys, scan_key_t, at).key,
	                    GUINT_TO_POINTER(at + 1));
}

static void scan_key_add(scan_group_t *group, const char *name, int line)
{
	scan_key_t *key = scan_key_find(group, name);
	scan_key_t fresh = { .key = name, .line = line };

	if (key != NULL) {
		key->line = line;
		return;
	}
	g_array_append_val(group->keys, fresh);
	if (group->index != NULL) {
		scan_index_add(group, group->keys->len - 1);
	} else if (group->keys->len > SCAN_INDEX_FROM) {
		group->index = g_hash_table_new(g_str_hash, g_str_equal);
		for (guint i = 0; i < group->keys->len; i++)
			scan_index_add(group, i);
	}
}

/* GKeyFile's rule: "[", a name up to the first "]", then only blanks. */
static gboolean line_is_group(const char *line)
{
	const char *end;

	if (line[0] != '[' || (end = strchr(line, ']')) == NULL)
		return FALSE;
	return end[1 + strspn(end + 1, " \t")] == '\0';
}

/* GKeyFile's rule: no "[", "]" or control characters, not empty. */
static gboolean group_name_valid(const char *name)
{
	if (*name == '\0')
		return FALSE;
	for (const char *p = name; *p != '\0'; p++)
		if (*p == '[' || *p == ']' || g_ascii_iscntrl(*p))
			return FALSE;
	return TRUE;
}

/* GKeyFile's rule: no "=", "[" or "]" except a "[locale]" suffix, and no
 * blank at either end. */
static gboolean key_name_valid(const char *name)
{
	gsize len = strcspn(name, "=[]");

	if (len == 0 || name[0] == ' ' || name[len - 1] == ' ')
		return FALSE;
	if (name[len] == '\0')
		return TRUE;
	if (name[len] != '[')
		return FALSE;
	for (const char *p = name + len + 1; *p != '\0';
	     p = g_utf8_find_next_char(p, NULL)) {
		if (*p == ']')
			return p[1] == '\0';
		if (!g_unichar_isalnum(g_utf8_get_char_validated(p, -1))
		    && strchr("-_.@", *p) == NULL)
			return FALSE;
	}
	return FALSE;
}

static gboolean is_config_group(const char *group)
{
	return strcmp(group, CONFIG_PREFIX) == 0
	       || g_str_has_prefix(group, CONFIG_PREFIX " ");
}

/* The NAME of a "[config NAME]" group, or NULL for other groups. */
static char *config_group_name(const char *group)
{
	if (!is_config_group(group))
		return NULL;
	return g_strstrip(g_strdup(group + strlen(CONFIG_PREFIX)));
}

/* Names are cut out of the line in place: the scan works on its own copy
 * of the text, and a copy of every name cost more than the rest. */
static gboolean scan_group_line(load_t *ld, char *line, int lineno,
                                scan_group_t **group)
{
	char *name = line + 1;
	scan_group_t *seen;

	*strchr(name, ']') = '\0';
	if (!group_name_valid(name)) {
		problem(ld, lineno, "invalid group name [%s]", name);
		return FALSE;
	}
	seen = g_hash_table_lookup(ld->group_index, name);
	*group = seen != NULL ? seen : scan_group_new(ld, name, lineno);
	/* GKeyFile would merge the two silently into one configuration. */
	if (seen != NULL && is_config_group(name))
		problem(ld, lineno, "duplicate group [%s] (first at line %d)",
		        name, seen->line);
	return TRUE;
}

static gboolean scan_key_line(load_t *ld, char *line, int lineno,
                              scan_group_t *group)
{
	char *end = strchr(line, '=');

	while (end > line && g_ascii_isspace(end[-1]))
		end--;
	*end = '\0';
	if (group == NULL) {
		problem(ld, lineno, "key %s outside of any group", line);
		return FALSE;
	}
	if (!key_name_valid(line)) {
		problem(ld, lineno, "invalid key name %s", line);
		return FALSE;
	}
	scan_key_add(group, line, lineno);
	return TRUE;
}

/* Classifies one line as GKeyFile's parser does. */
static gboolean scan_line(load_t *ld, char *line, int lineno,
                          scan_group_t **group)
{
	gsize len = strlen(line);

	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	while (g_ascii_isspace(*line))
		line++;
	if (*line == '#' || *line == '\0')
		return TRUE;
	if (line_is_group(line))
		return scan_group_line(ld, line, lineno, group);
	if (line[0] != '=' && strchr(line, '=') != NULL)
		return scan_key_line(ld, line, lineno, *group);
	problem(ld, lineno, "not a [group], key = value or # comment line");
	return FALSE;
}

/* In a reduced text each piece of the file goes on with its own line
 * number. */
static int scan_line_number(load_t *ld, const char *line, int lineno,
                            guint *mark)
{
	gsize at = (gsize)(line - ld->scanned);

	while (*mark < ld->n_marks && ld->marks[*mark].offset <= at)
		lineno = ld->marks[(*mark)++].line;
	return lineno;
}

static gboolean scan_text(load_t *ld, const char *text)
{
	scan_group_t *group = NULL;
	gboolean ok = TRUE;
	guint mark = 0;
	char *line;

	ld->scanned = g_strdup(text);
	line = ld->scanned;
	for (int lineno = 1; line != NULL; lineno++) {
		char *end = strchr(line, '\n');

		lineno = scan_line_number(ld, line, lineno, &mark);
		if (end != NULL)
			*end = '\0';
		if (!scan_line(ld, line, lineno, &group))
			ok = FALSE;
		line = end != NULL ? end + 1 : NULL;
	}
	ld->main = g_hash_table_lookup(ld->group_index, GROUP_MAIN);
	ld->defaults = g_hash_table_lookup(ld->group_index, GROUP_DEFAULTS);
	return ok;
}

/* A key of [m2wo], or NULL. */
static const scan_key_t *main_key(load_t *ld, const char *key)
{
	return scan_key_find(ld->main, key);
}

static int main_line(load_t *ld, const char *key)
{
	const scan_key_t *k = main_key(ld, key);

	return k != NULL ? k->line : 0;
}

/* ---------------------------------------------------------- reading values */

/* The getters take the key as the scan found it, NULL when absent: the
 * loaders know which keys a group has and look nothing up by name. */

/* GKeyFile says "cannot be interpreted" for a bad escape; say what is. */
static void value_problem(load_t *ld, const scan_key_t *k,
                          const GError *error)
{
	if (g_error_matches(error, G_KEY_FILE_ERROR,
	                    G_KEY_FILE_ERROR_INVALID_VALUE))
		problem(ld, k->line, "%s: invalid escape "
		        "sequence (write \\\\ for a backslash)", k->key);
	else
		problem(ld, k->line, "%s: %s", k->key, error->message);
}

/* A string value with GKeyFile's escapes ("\n", "\\", "\s"), trimmed; NULL
 * when absent or empty, or on a problem. */
static char *get_string(load_t *ld, const scan_group_t *group,
                        const scan_key_t *k)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *value = NULL;

	if (k == NULL)
		return NULL;
	value = g_key_file_get_string(ld->kf, group->name, k->key, &error);
	if (error != NULL) {
		value_problem(ld, k, error);
		return NULL;
	}
	g_strstrip(value);
	return *value != '\0' ? g_steal_pointer(&value) : NULL;
}

/* A value as written, backslashes untouched (regex patterns), trimmed. */
static char *get_raw(load_t *ld, const scan_group_t *group,
                     const scan_key_t *k)
{
	g_autofree char *value = NULL;

	if (k == NULL)
		return NULL;
	value = g_key_file_get_value(ld->kf, group->name, k->key, NULL);
	if (value == NULL || *g_strstrip(value) == '\0')
		return NULL;
	return g_steal_pointer(&value);
}

/* A ";" list ("\;" for a literal ";"), items trimmed, empty items dropped. */
static char **get_list(load_t *ld, const scan_group_t *group,
                       const scan_key_t *k)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) items = NULL;
	GPtrArray *out;

	items = g_key_file_get_string_list(ld->kf, group->name, k->key, NULL,
	                                   &error);
	if (error != NULL) {
		value_problem(ld, k, error);
		return NULL;
	}
	if (items == NULL)
		return g_new0(char *, 1);
	out = g_ptr_array_new();
	for (int i = 0; items[i] != NULL; i++)
		if (*g_strstrip(items[i]) != '\0')
			g_ptr_array_add(out, g_strdup(items[i]));
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

/* Leaves *out alone when the key is absent or has a problem. */
static void get_bool(load_t *ld, const scan_group_t *group,
                     const scan_key_t *k, gboolean *out)
{
	g_autoptr(GError) error = NULL;
	gboolean value;

	if (k == NULL)
		return;
	value = g_key_file_get_boolean(ld->kf, group->name, k->key, &error);
	if (error != NULL) {
		g_autofree char *raw = get_raw(ld, group, k);

		problem(ld, k->line, "%s: not a boolean (true or false): %s",
		        k->key, raw != NULL ? raw : "");
		return;
	}
	*out = value;
}

static void get_number(load_t *ld, const char *key, guint64 min, guint64 max,
                       guint64 *out)
{
	const scan_key_t *k = main_key(ld, key);
	g_autofree char *raw = get_raw(ld, ld->main, k);

	if (k == NULL)
		return;
	if (raw == NULL
	    || !g_ascii_string_to_unsigned(raw, 10, min, max, out, NULL)) {
		problem(ld, k->line,
		        "%s: not a whole number from %" G_GUINT64_FORMAT
		        " to %" G_GUINT64_FORMAT ": %s", key, min, max,
		        raw != NULL ? raw : "");
	}
}

/* A path of [m2wo]; relative ones are taken from the configuration file's
 * folder, so that the same file works from a shell and from Postfix's
 * queue folder. */
static char *get_path(load_t *ld, const char *key)
{
	g_autofree char *value = get_string(ld, ld->main, main_key(ld, key));

	if (value == NULL)
		return NULL;
	return g_canonicalize_filename(value, ld->dir);
}

/* ---------------------------------------------------------------- [m2wo] */

typedef struct {
	const char *name;
	int value;
} choice_t;

static const choice_t policies[] = {
	{ "bounce", M2WO_POLICY_BOUNCE },
	{ "discard", M2WO_POLICY_DISCARD },
	{ "quarantine", M2WO_POLICY_QUARANTINE },
	{ "process", M2WO_POLICY_PROCESS },
	{ NULL, 0 },
};

/* Each policy key allows its own few (SPEC 3.1). */
static const choice_t unmatched_policies[] = {
	{ "bounce", M2WO_POLICY_BOUNCE },
	{ "discard", M2WO_POLICY_DISCARD },
	{ "quarantine", M2WO_POLICY_QUARANTINE },
	{ NULL, 0 },
};

static const choice_t autoreply_policies[] = {
	{ "discard", M2WO_POLICY_DISCARD },
	{ "quarantine", M2WO_POLICY_QUARANTINE },
	{ "process", M2WO_POLICY_PROCESS },
	{ NULL, 0 },
};

static const choice_t reject_policies[] = {
	{ "bounce", M2WO_POLICY_BOUNCE },
	{ "quarantine", M2WO_POLICY_QUARANTINE },
	{ NULL, 0 },
};

static const choice_t dedupes[] = {
	{ "api", M2WO_DEDUPE_API },
	{ "off", M2WO_DEDUPE_OFF },
	{ NULL, 0 },
};

static const choice_t facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	{ NULL, 0 },
};

/* Leaves *out alone when the key is absent or has a problem. */
static void get_choice(load_t *ld, const char *key, const choice_t *choices,
                       int *out)
{
	const scan_key_t *k = main_key(ld, key);
	g_autofree char *value = get_string(ld, ld->main, k);
	g_autoptr(GString) names = NULL;

	if (value == NULL)
		return;
	names = g_string_new(NULL);
	for (const choice_t *c = choices; c->name != NULL; c++) {
		if (strcmp(c->name, value) == 0) {
			*out = c->value;
			return;
		}
		g_string_append_printf(names, "%s%s", names->len ? ", " : "",
		                       c->name);
	}
	problem(ld, k->line, "%s: %s is not one of %s",
	        key, value, names->str);
}

static const char *const main_keys[] = {
	"api_url", "token_file", "software_token_file", "bearer_token_file",
	"ca_file", "request_timeout", "deadline", "max_message_size",
	"workorder_no", "dedupe", "on_unmatched", "on_autoreply", "on_reject",
	"quarantine_dir", "daily_limit", "state_dir", "syslog_facility",
	"audit_file", NULL,
};

static void check_api_url(load_t *ld, const char *url)
{
	int line = main_line(ld, "api_url");

	/* The tokens travel in the query string: never over plain HTTP. */
	if (g_ascii_strncasecmp(url, "https://", 8) != 0 || url[8] == '\0'
	    || url[8] == '/')
		problem(ld, line, "api_url: must be an https:// URL");
	else if (strpbrk(url, "?# \t") != NULL)
		problem(ld, line, "api_url: must not hold a query, a fragment "
		        "or blanks");
}

static void load_main_paths(load_t *ld, m2wo_config_t *c)
{
	char *value;

	c->token_file = get_path(ld, "token_file");
	c->software_token_file = get_path(ld, "software_token_file");
	c->bearer_token_file = get_path(ld, "bearer_token_file");
	c->ca_file = get_path(ld, "ca_file");
	c->quarantine_dir = get_path(ld, "quarantine_dir");
	c->audit_file = get_path(ld, "audit_file");
	if ((value = get_path(ld, "state_dir")) != NULL) {
		g_free(c->state_dir);
		c->state_dir = value;
	}
	c->token_file_line = main_line(ld, "token_file");
	c->software_token_file_line = main_line(ld, "software_token_file");
	c->bearer_token_file_line = main_line(ld, "bearer_token_file");
}

static void load_main_numbers(load_t *ld, m2wo_config_t *c)
{
	guint64 n;

	n = c->request_timeout;
	get_number(ld, "request_timeout", 1, 3600, &n);
	c->request_timeout = (int)n;
	n = c->deadline;
	get_number(ld, "deadline", 1, 86400, &n);
	c->deadline = (int)n;
	n = c->max_message_size;
	get_number(ld, "max_message_size", 1, 1024 * 1024 * 1024, &n);
	c->max_message_size = (gsize)n;
	n = c->daily_limit;
	get_number(ld, "daily_limit", 0, 10000000, &n);
	c->daily_limit = (guint)n;
}

static void load_main_choices(load_t *ld, m2wo_config_t *c)
{
	int v;

	v = c->dedupe;
	get_choice(ld, "dedupe", dedupes, &v);
	c->dedupe = v;
	v = c->on_unmatched;
	get_choice(ld, "on_unmatched", unmatched_policies, &v);
	c->on_unmatched = v;
	v = c->on_autoreply;
	get_choice(ld, "on_autoreply", autoreply_policies, &v);
	c->on_autoreply = v;
	v = c->on_reject;
	get_choice(ld, "on_reject", reject_policies, &v);
	c->on_reject = v;
	get_choice(ld, "syslog_facility", facilities, &c->syslog_facility);
}

static void require_quarantine_dir(load_t *ld, const char *key,
                                   m2wo_policy_t policy)
{
	if (policy == M2WO_POLICY_QUARANTINE && ld->config->quarantine_dir == NULL)
		problem(ld, main_line(ld, key),
		        "%s = quarantine needs quarantine_dir", key);
}

static void require_main_key(load_t *ld, const char *key, const char *value)
{
	if (value != NULL)
		return;
	if (main_key(ld, key) != NULL)
		problem(ld, main_line(ld, key), "%s: empty", key);
	else
		problem(ld, ld->main != NULL ? ld->main->line : 0,
		        "[m2wo]: %s missing", key);
}

static void load_main(load_t *ld)
{
	m2wo_config_t *c = ld->config;
	char *value;

	if ((value = get_string(ld, ld->main, main_key(ld, "api_url"))) != NULL) {
		g_free(c->api_url);
		c->api_url = value;
	}
	check_api_url(ld, c->api_url);
	if ((value = get_string(ld, ld->main, main_key(ld, "workorder_no")))
	    != NULL) {
		g_free(c->workorder_no);
		c->workorder_no = value;
	}
	load_main_paths(ld, c);
	load_main_numbers(ld, c);
	load_main_choices(ld, c);
	require_main_key(ld, "token_file", c->token_file);
	require_main_key(ld, "software_token_file", c->software_token_file);
	require_quarantine_dir(ld, "on_unmatched", c->on_unmatched);
	require_quarantine_dir(ld, "on_autoreply", c->on_autoreply);
	require_quarantine_dir(ld, "on_reject", c->on_reject);
}

/* ------------------------------------------------- mail configurations */

static const char *const mailconf_keys[] = {
	[MK_DESCRIPTION] = "description",
	[MK_ACTIVE] = "active",
	[MK_SENDER_TYPE] = "sender_type",
	[MK_SENDER_VALUE] = "sender_value",
	[MK_CUSTOMER_RULES] = "customer_rules",
	[MK_FORCED_DEBTOR_NUMBER] = "forced_debtor_number",
	[MK_CREATE_RELATION] = "create_relation",
	[MK_PARSE_ATTACHMENTS] = "parse_attachments",
	[MK_ATTACH_ORIGINAL] = "attach_original",
	[MK_COUNT] = NULL,
};

static const char *const mailconf_prefixes[] = {
	"regex.", "subject_regex.", "forced.", NULL,
};

/* [A-Za-z0-9_]+; a loop, as strspn with a set this long is slow. */
static gboolean param_name_valid(const char *name)
{
	const char *p = name;

	while (g_ascii_isalnum(*p) || *p == '_')
		p++;
	return p != name && *p == '\0';
}

/* The part after a known prefix, or NULL. The prefixes start with
 * different letters: one compare rules out the others. */
static const char *key_suffix(const char *key, const char **prefix)
{
	for (int i = 0; mailconf_prefixes[i] != NULL; i++) {
		if (key[0] == mailconf_prefixes[i][0]
		    && g_str_has_prefix(key, mailconf_prefixes[i])) {
			*prefix = mailconf_prefixes[i];
			return key + strlen(mailconf_prefixes[i]);
		}
	}
	return NULL;
}

static gboolean key_is_forced(const scan_key_t *k)
{
	return k->prefix != NULL && strcmp(k->prefix, "forced.") == 0;
}

/* workorder_field_known, remembered: every configuration names the same
 * few fields, and looking one up walks the whole field table. */
static gboolean field_known(load_t *ld, const char *field)
{
	gpointer known;

	if (!g_hash_table_lookup_extended(ld->fields, field, NULL, &known)) {
		known = GINT_TO_POINTER(workorder_field_known(field));
		g_hash_table_insert(ld->fields, (char *)field, known);
	}
	return GPOINTER_TO_INT(known);
}

static int key_index(const char *const *known, const char *key)
{
	for (int i = 0; known[i] != NULL; i++)
		if (strcmp(known[i], key) == 0)
			return i;
	return -1;
}

/* Sorts out once what each key of a group is: a known one (in a mail
 * configuration group also put into its slot), a regex.* / subject_regex.*
 * / forced.* one, or unknown. Loading then looks nothing up by name. */
static void classify_keys(load_t *ld, scan_group_t *group,
                          const char *const *known, gboolean mailconf)
{
	if (group->classified)
		return;
	group->classified = TRUE;
	for (guint i = 0; i < group->keys->len; i++) {
		scan_key_t *k = &g_array_index(group->keys, scan_key_t, i);

		/* No known key has a prefix: the cheaper test first. */
		k->suffix = mailconf ? key_suffix(k->key, &k->prefix) : NULL;
		k->known = k->suffix == NULL ? key_index(known, k->key) : -1;
		if (k->known >= 0 && mailconf)
			group->slot[k->known] = k;
		if (k->suffix == NULL)
			continue;
		k->name_ok = param_name_valid(k->suffix);
		if (key_is_forced(k))
			k->field_known = field_known(ld, k->suffix);
	}
}

static void check_keys(load_t *ld, scan_group_t *group,
                       const char *const *known, gboolean mailconf)
{
	classify_keys(ld, group, known, mailconf);
	for (guint i = 0; i < group->keys->len; i++) {
		const scan_key_t *k = &g_array_index(group->keys, scan_key_t, i);

		if (k->known >= 0)
			continue;
		if (k->suffix == NULL)
			problem(ld, k->line, "unknown key %s in [%s]", k->key,
			        group->name);
		else if (!key_is_forced(k) && !k->name_ok)
			problem(ld, k->line, "%s: the name after %s may hold only "
			        "letters, digits and _", k->key, k->prefix);
		else if (key_is_forced(k) && !k->field_known)
			problem(ld, k->line, "%s: unknown work-order field %s",
			        k->key, k->suffix);
	}
}

/* The group that gives a configuration its value for a known key, with
 * the key there: its own, else [defaults], else NULL. */
static const scan_group_t *value_group(load_t *ld, const scan_group_t *group,
                                       int slot, const scan_key_t **k)
{
	if ((*k = group->slot[slot]) != NULL)
		return group;
	if (ld->defaults != NULL && (*k = ld->defaults->slot[slot]) != NULL)
		return ld->defaults;
	return NULL;
}

static void conf_bool(load_t *ld, const scan_group_t *group, int slot,
                      gboolean *out)
{
	const scan_key_t *k;
	const scan_group_t *from = value_group(ld, group, slot, &k);

	if (from != NULL)
		get_bool(ld, from, k, out);
}

static m2wo_regex_rule_t *regex_rule_new(load_t *ld, const scan_group_t *group,
                                         const scan_key_t *k)
{
	m2wo_regex_rule_t *rule;
	const char *name = k->suffix;
	char *pattern;

	/* A rule named like a built-in parameter would replace it: with
	 * message_key, WorkorderNo and so the duplicate check would change.
	 * obj_code is the one built-in that a rule is meant to fill. */
	if (strcmp(name, "obj_code") != 0 &&
	    g_strv_contains(template_builtin_names(), name)) {
		problem(ld, k->line,
		        "%s: {%s} is a built-in parameter; name the rule otherwise",
		        k->key, name);
		return NULL;
	}
	pattern = get_raw(ld, group, k);
	if (pattern == NULL) {
		problem(ld, k->line, "%s: empty pattern", k->key);
		return NULL;
	}
	rule = g_new0(m2wo_regex_rule_t, 1);
	rule->name = g_strdup(name);
	rule->pattern = pattern;
	rule->subject = strcmp(k->prefix, "subject_regex.") == 0;
	rule->line = k->line;
	return rule;
}

static void regex_rule_free(m2wo_regex_rule_t *rule)
{
	g_free(rule->name);
	g_free(rule->pattern);
	g_clear_pointer(&rule->code, pcre2_code_free);
	g_free(rule);
}

static m2wo_forced_t *forced_new(load_t *ld, const scan_group_t *group,
                                 const scan_key_t *k)
{
	m2wo_forced_t *forced = g_new0(m2wo_forced_t, 1);
	char *value = get_string(ld, group, k);

	forced->field = g_strdup(k->suffix);
	forced->template = value != NULL ? value : g_strdup("");
	forced->line = k->line;
	return forced;
}

static void forced_free(m2wo_forced_t *forced)
{
	g_free(forced->field);
	g_free(forced->template);
	g_free(forced);
}

static gboolean conf_has_rule(const m2wo_mailconf_t *conf, const char *name)
{
	for (guint i = 0; i < conf->regex_rules->len; i++) {
		const m2wo_regex_rule_t *r = g_ptr_array_index(conf->regex_rules, i);

		if (strcmp(r->name, name) == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean conf_has_forced(const m2wo_mailconf_t *conf,
                                const char *field)
{
	for (guint i = 0; i < conf->forced->len; i++) {
		const m2wo_forced_t *f = g_ptr_array_index(conf->forced, i);

		if (strcmp(f->field, field) == 0)
			return TRUE;
	}
	return FALSE;
}

/* Adds the regex.* / subject_regex.* / forced.* keys of one group. With
 * inherited, a name the configuration already has is not taken: its own
 * rule wins, per name. */
static void add_family(load_t *ld, m2wo_mailconf_t *conf,
                       const scan_group_t *group, gboolean inherited)
{
	for (guint i = 0; group != NULL && i < group->keys->len; i++) {
		const scan_key_t *k = &g_array_index(group->keys, scan_key_t, i);

		if (k->suffix == NULL || !k->name_ok)
			continue;
		if (key_is_forced(k)) {
			if (!k->field_known
			    || (inherited && conf_has_forced(conf, k->suffix)))
				continue;
			g_ptr_array_add(conf->forced, forced_new(ld, group, k));
		} else if (conf_has_rule(conf, k->suffix)) {
			if (!inherited)
				problem(ld, k->line, "%s: a rule named %s is already "
				        "defined in [%s]", k->key, k->suffix,
				        group->name);
		} else {
			m2wo_regex_rule_t *rule = regex_rule_new(ld, group, k);

			if (rule != NULL)
				g_ptr_array_add(conf->regex_rules, rule);
		}
	}
}

/* Caseless is left to the pattern ("(?i)"), as everywhere in m2wo. */
static void compile_into(load_t *ld, int line, const char *what,
                         const char *pattern, pcre2_code **code)
{
	g_autoptr(GError) error = NULL;

	*code = regex_compile(pattern, FALSE, &error);
	if (*code == NULL)
		problem(ld, line, "%s: %s", what,
		        error != NULL ? error->message : "does not compile");
}

/* For the *Regex types one raw pattern, else a ";" list. */
static void load_sender_values(load_t *ld, m2wo_mailconf_t *conf,
                               const scan_group_t *group)
{
	const scan_key_t *k;
	const scan_group_t *from = value_group(ld, group, MK_SENDER_VALUE, &k);
	char *pattern;

	if (from == NULL) {
		problem(ld, conf->line, "[%s]: sender_value missing (sender_type "
		        "%s needs one)", group->name, conf->matcher->name);
		return;
	}
	if (!conf->matcher->regex) {
		conf->sender_values = get_list(ld, from, k);
		if (conf->sender_values != NULL && conf->sender_values[0] == NULL)
			problem(ld, k->line, "sender_value: empty");
		return;
	}
	if ((pattern = get_raw(ld, from, k)) == NULL) {
		problem(ld, k->line, "sender_value: empty");
		return;
	}
	conf->sender_values = g_new0(char *, 2);
	conf->sender_values[0] = pattern;
	if (ld->compile_all)
		compile_into(ld, k->line, "sender_value", pattern,
		             &conf->sender_code);
}

static void load_sender(load_t *ld, m2wo_mailconf_t *conf,
                        const scan_group_t *group)
{
	const scan_key_t *k;
	const scan_group_t *from = value_group(ld, group, MK_SENDER_TYPE, &k);
	g_autofree char *type = NULL;
	g_autofree char *raw = NULL;

	if (from == NULL) {
		problem(ld, conf->line, "[%s]: sender_type missing", group->name);
		return;
	}
	if ((type = get_string(ld, from, k)) == NULL) {
		if ((raw = get_raw(ld, from, k)) == NULL)
			problem(ld, k->line, "sender_type: empty");
		return;
	}
	conf->matcher = match_lookup(type);
	if (conf->matcher == NULL) {
		problem(ld, k->line, "sender_type: unknown type %s", type);
		return;
	}
	if (strcmp(conf->matcher->name, "Any") != 0)
		load_sender_values(ld, conf, group);
}

static void load_customer_rules(load_t *ld, m2wo_mailconf_t *conf,
                                const scan_group_t *group)
{
	const scan_key_t *k;
	const scan_group_t *from = value_group(ld, group, MK_CUSTOMER_RULES, &k);
	g_auto(GStrv) names = from ? get_list(ld, from, k) : NULL;

	for (int i = 0; names != NULL && names[i] != NULL; i++) {
		const m2wo_customer_rule_t *rule = customer_rule_lookup(names[i]);

		if (rule == NULL)
			problem(ld, k->line, "customer_rules: unknown rule %s",
			        names[i]);
		else
			g_ptr_array_add(conf->customer_rules, (gpointer)rule);
	}
}

static char *conf_string(load_t *ld, const scan_group_t *group, int slot)
{
	const scan_key_t *k;
	const scan_group_t *from = value_group(ld, group, slot, &k);

	return from != NULL ? get_string(ld, from, k) : NULL;
}

static void mailconf_free(m2wo_mailconf_t *conf)
{
	/* Stubs belong to the snapshot, which frees them all at once. */
	if (conf->stub)
		return;
	g_free(conf->name);
	g_free(conf->description);
	g_strfreev(conf->sender_values);
	g_clear_pointer(&conf->sender_code, pcre2_code_free);
	g_ptr_array_unref(conf->customer_rules);
	g_free(conf->forced_debtor_number);
	g_ptr_array_unref(conf->regex_rules);
	g_ptr_array_unref(conf->forced);
	g_free(conf);
}

static m2wo_mailconf_t *mailconf_new(const char *name, int line)
{
	m2wo_mailconf_t *conf = g_new0(m2wo_mailconf_t, 1);

	conf->name = g_strdup(name);
	conf->line = line;
	conf->active = TRUE;
	conf->customer_rules = g_ptr_array_new();
	conf->regex_rules =
		g_ptr_array_new_with_free_func((GDestroyNotify)regex_rule_free);
	conf->forced = g_ptr_array_new_with_free_func((GDestroyNotify)forced_free);
	return conf;
}

static const char **rule_names(const m2wo_mailconf_t *conf)
{
	const char **names = g_new0(const char *, conf->regex_rules->len + 1);

	for (guint i = 0; i < conf->regex_rules->len; i++)
		names[i] = ((m2wo_regex_rule_t *)
		            g_ptr_array_index(conf->regex_rules, i))->name;
	return names;
}

static void load_mailconf(load_t *ld, const scan_group_t *group,
                          const char *name)
{
	m2wo_mailconf_t *conf = mailconf_new(name, group->line);
	conf_load_t *cl = g_new0(conf_load_t, 1);

	conf->description = conf_string(ld, group, MK_DESCRIPTION);
	conf->forced_debtor_number =
		conf_string(ld, group, MK_FORCED_DEBTOR_NUMBER);
	conf_bool(ld, group, MK_ACTIVE, &conf->active);
	conf_bool(ld, group, MK_CREATE_RELATION, &conf->create_relation);
	conf_bool(ld, group, MK_PARSE_ATTACHMENTS, &conf->parse_attachments);
	conf_bool(ld, group, MK_ATTACH_ORIGINAL, &conf->attach_original);
	load_sender(ld, conf, group);
	load_customer_rules(ld, conf, group);
	add_family(ld, conf, group, FALSE);
	cl->own_forced = conf->forced->len;
	add_family(ld, conf, ld->defaults, TRUE);
	/* Any takes no values; matchers may still walk the list. */
	if (conf->sender_values == NULL)
		conf->sender_values = g_new0(char *, 1);
	cl->conf = conf;
	cl->group = group;
	cl->rule_names = rule_names(conf);
	g_ptr_array_add(ld->config->mailconfs, conf);
	g_ptr_array_add(ld->confs, cl);
	g_hash_table_add(ld->conf_names, conf->name);
}

/* ------------------------------------------------------------ templates */

/* Checks one template (key prefix + name) against every configuration that
 * uses it, with that configuration's regex rule names. A template shared
 * through [defaults] or [m2wo] can be fine in one configuration and not in
 * another: then the problem names the ones where it fails; where it fails
 * in all, it is said once. */
static void check_template(load_t *ld, const char *prefix, const char *key,
                           const char *tmpl, int line,
                           conf_load_t *const *users, guint n_users)
{
	g_autoptr(GPtrArray) failed = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *first = NULL;

	if (tmpl == NULL)
		return;
	for (guint i = 0; i < n_users; i++) {
		if (template_check(tmpl, users[i]->rule_names, &error))
			continue;
		if (failed == NULL)
			failed = g_ptr_array_new_with_free_func(g_free);
		if (first == NULL)
			first = g_strdup(error->message);
		g_ptr_array_add(failed, g_strdup_printf("%s%s: %s in [config %s]",
		                prefix, key, error->message,
		                users[i]->conf->name));
		g_clear_error(&error);
	}
	if (n_users == 0 && !template_check(tmpl, NULL, &error))
		first = g_strdup(error->message);
	if (first != NULL && (failed != NULL ? failed->len : 0) == n_users) {
		problem(ld, line, "%s%s: %s", prefix, key, first);
		return;
	}
	for (guint i = 0; failed != NULL && i < failed->len; i++)
		problem(ld, line, "%s", (char *)g_ptr_array_index(failed, i));
}

/* The template keys of one configuration's own group. */
static void check_own_templates(load_t *ld, conf_load_t *cl)
{
	const m2wo_mailconf_t *conf = cl->conf;
	const scan_key_t *debtor = cl->group->slot[MK_FORCED_DEBTOR_NUMBER];

	for (guint i = 0; i < cl->own_forced; i++) {
		const m2wo_forced_t *f = g_ptr_array_index(conf->forced, i);

		check_template(ld, "forced.", f->field, f->template, f->line,
		               &cl, 1);
	}
	if (debtor != NULL)
		check_template(ld, "", debtor->key, conf->forced_debtor_number,
		               debtor->line, &cl, 1);
}

/* One template key of [defaults], with the configurations inheriting it. */
static void check_default_template(load_t *ld, const scan_key_t *k)
{
	g_autoptr(GPtrArray) users = g_ptr_array_new();
	g_autofree char *tmpl = get_string(ld, ld->defaults, k);

	if (key_is_forced(k) && !k->field_known)
		return;
	for (guint i = 0; i < ld->confs->len; i++) {
		conf_load_t *cl = g_ptr_array_index(ld->confs, i);

		if (scan_key_find(cl->group, k->key) == NULL)
			g_ptr_array_add(users, cl);
	}
	if (users->len > 0)
		check_template(ld, "", k->key, tmpl, k->line,
		               (conf_load_t **)users->pdata, users->len);
}

static void check_templates(load_t *ld)
{
	const scan_group_t *defaults = ld->defaults;

	check_template(ld, "", "workorder_no", ld->config->workorder_no,
	               main_line(ld, "workorder_no"),
	               (conf_load_t **)ld->confs->pdata, ld->confs->len);
	for (guint i = 0; i < ld->confs->len; i++)
		check_own_templates(ld, g_ptr_array_index(ld->confs, i));
	for (guint i = 0; defaults != NULL && i < defaults->keys->len; i++) {
		const scan_key_t *k = &g_array_index(defaults->keys, scan_key_t, i);

		if (g_str_has_prefix(k->key, "forced.")
		    || strcmp(k->key, "forced_debtor_number") == 0)
			check_default_template(ld, k);
	}
}

static void compile_rules(load_t *ld)
{
	GPtrArray *confs = ld->config->mailconfs;

	for (guint i = 0; i < confs->len; i++) {
		m2wo_mailconf_t *conf = g_ptr_array_index(confs, i);

		for (guint j = 0; j < conf->regex_rules->len; j++) {
			m2wo_regex_rule_t *r = g_ptr_array_index(conf->regex_rules, j);
			g_autofree char *key = g_strconcat(r->subject ? "subject_regex."
			                                   : "regex.", r->name, NULL);

			compile_into(ld, r->line, key, r->pattern, &r->code);
		}
	}
}

/* ---------------------------------------------------------------- groups */

static gboolean mailconf_named(load_t *ld, const char *name)
{
	/* A table, not a walk over the list: with 1,000 configurations the
	 * walk was half a million string compares per run. */
	return g_hash_table_contains(ld->conf_names, name);
}

static void load_group(load_t *ld, scan_group_t *group)
{
	g_autofree char *name = config_group_name(group->name);

	if (strcmp(group->name, GROUP_MAIN) == 0) {
		check_keys(ld, group, main_keys, FALSE);
	} else if (strcmp(group->name, GROUP_DEFAULTS) == 0) {
		check_keys(ld, group, mailconf_keys, TRUE);
	} else if (name == NULL) {
		problem(ld, group->line, "unknown group [%s]", group->name);
	} else if (*name == '\0') {
		problem(ld, group->line, "[%s]: the configuration needs a name",
		        group->name);
	} else if (mailconf_named(ld, name)) {
		problem(ld, group->line, "[%s]: another configuration is named %s",
		        group->name, name);
	} else {
		check_keys(ld, group, mailconf_keys, TRUE);
		load_mailconf(ld, group, name);
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
		problem(ld, 0, "cannot read: %s", g_strerror(errno));
	} else if (!S_ISREG(st->st_mode)) {
		problem(ld, 0, "cannot read: not a regular file");
	} else if ((text = read_bounded(fd, M2WO_MAX_CONFIG_SIZE, len)) == NULL) {
		problem(ld, 0, "cannot read: %s", g_strerror(errno));
	} else if (*len > M2WO_MAX_CONFIG_SIZE) {
		problem(ld, 0, "cannot read: larger than %d bytes",
		        M2WO_MAX_CONFIG_SIZE);
		g_clear_pointer(&text, g_free);
	} else if (memchr(text, '\0', *len) != NULL) {
		problem(ld, 0, "cannot read: holds a NUL byte");
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
		problem(ld, 0, "%s", error->message);
		return FALSE;
	}
	return TRUE;
}

static void load_all(load_t *ld)
{
	load_main(ld);
	/* Every configuration reads its defaults from it, wherever it is. */
	if (ld->defaults != NULL)
		classify_keys(ld, ld->defaults, mailconf_keys, TRUE);
	for (guint i = 0; i < ld->groups->len; i++)
		load_group(ld, g_ptr_array_index(ld->groups, i));
	/* Without its configurations a template may name rules that only
	 * they define; the full load that made the snapshot checked them. */
	if (!ld->reduced || ld->confs->len > 0)
		check_templates(ld);
	if (ld->compile_all)
		compile_rules(ld);
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
		load_all(&ld);
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
		load_all(&ld);
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
			problem(ld, keys[i].line, "%s %s", keys[i].key,
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

const char *policy_to_string(m2wo_policy_t policy)
{
	for (const choice_t *c = policies; c->name != NULL; c++)
		if (c->value == (int)policy)
			return c->name;
	return "unknown";
}
