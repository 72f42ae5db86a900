/*
 * confscan.c: m2wo.conf as GKeyFile reads it. GKeyFile keeps no line
 * numbers, so the text is scanned here with GKeyFile's own rules to find
 * where each group and key is; each key is then sorted out by its name
 * (known, regex.*, subject_regex.*, forced.*), and values are read through
 * GKeyFile itself. It never gives a value a meaning or parses one by hand.
 */
#include <string.h>

#include "m2wo.h"
#include "confload.h"

#define CONFIG_PREFIX  "config"

/* A group with more keys than this gets a table to find them by name;
 * smaller ones, nearly all, are searched in a row. */
#define SCAN_INDEX_FROM 32

/* ------------------------------------------------------------ the text scan */

void scan_group_free(scan_group_t *group)
{
	g_array_unref(group->keys);
	if (group->index != NULL)
		g_hash_table_unref(group->index);
	g_free(group);
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
scan_key_t *scan_key_find(const scan_group_t *group, const char *name)
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

/* GKeyFile's rule: "[", a name up to the first "]", then only blanks
 * (after leading blanks, before a final CR). */
gboolean conf_group_line(const char *p, const char *end, const char **name,
                         gsize *len)
{
	const char *close;

	if (end > p && end[-1] == '\r')
		end--;
	while (p < end && g_ascii_isspace(*p))
		p++;
	if (p == end || *p != '[' || (close = memchr(p, ']', end - p)) == NULL)
		return FALSE;
	for (const char *rest = close + 1; rest < end; rest++)
		if (*rest != ' ' && *rest != '\t')
			return FALSE;
	*name = p + 1;
	*len = (gsize)(close - p - 1);
	return TRUE;
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
char *config_group_name(const char *group)
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
		conf_problem(ld, lineno, "invalid group name [%s]", name);
		return FALSE;
	}
	seen = g_hash_table_lookup(ld->group_index, name);
	*group = seen != NULL ? seen : scan_group_new(ld, name, lineno);
	/* GKeyFile would merge the two silently into one configuration. */
	if (seen != NULL && is_config_group(name))
		conf_problem(ld, lineno, "duplicate group [%s] (first at line %d)",
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
		conf_problem(ld, lineno, "key %s outside of any group", line);
		return FALSE;
	}
	if (!key_name_valid(line)) {
		conf_problem(ld, lineno, "invalid key name %s", line);
		return FALSE;
	}
	scan_key_add(group, line, lineno);
	return TRUE;
}

/* Classifies one line as GKeyFile's parser does. */
static gboolean scan_line(load_t *ld, char *line, int lineno,
                          scan_group_t **group)
{
	gsize len = strlen(line), name_len;
	const char *name;

	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	while (g_ascii_isspace(*line))
		line++;
	if (*line == '#' || *line == '\0')
		return TRUE;
	if (conf_group_line(line, line + strlen(line), &name, &name_len))
		return scan_group_line(ld, line, lineno, group);
	if (line[0] != '=' && strchr(line, '=') != NULL)
		return scan_key_line(ld, line, lineno, *group);
	conf_problem(ld, lineno, "not a [group], key = value or # comment line");
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

gboolean scan_text(load_t *ld, const char *text)
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

/* ---------------------------------------------------------- reading values */

/* The getters take the key as the scan found it, NULL when absent: the
 * loaders know which keys a group has and look nothing up by name. */

/* GKeyFile says "cannot be interpreted" for a bad escape; say what is. */
static void value_problem(load_t *ld, const scan_key_t *k,
                          const GError *error)
{
	if (g_error_matches(error, G_KEY_FILE_ERROR,
	                    G_KEY_FILE_ERROR_INVALID_VALUE))
		conf_problem(ld, k->line, "%s: invalid escape "
		             "sequence (write \\\\ for a backslash)", k->key);
	else
		conf_problem(ld, k->line, "%s: %s", k->key, error->message);
}

/* A string value with GKeyFile's escapes ("\n", "\\", "\s"), trimmed; NULL
 * when absent or empty, or on a problem. */
char *conf_get_string(load_t *ld, const scan_group_t *group,
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
char *conf_get_raw(load_t *ld, const scan_group_t *group,
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
char **conf_get_list(load_t *ld, const scan_group_t *group,
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
void conf_get_bool(load_t *ld, const scan_group_t *group,
                   const scan_key_t *k, gboolean *out)
{
	g_autoptr(GError) error = NULL;
	gboolean value;

	if (k == NULL)
		return;
	value = g_key_file_get_boolean(ld->kf, group->name, k->key, &error);
	if (error != NULL) {
		g_autofree char *raw = conf_get_raw(ld, group, k);

		conf_problem(ld, k->line, "%s: not a boolean (true or false): %s",
		             k->key, raw != NULL ? raw : "");
		return;
	}
	*out = value;
}

/* ------------------------------------------------------- what each key is */

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

gboolean conf_key_is_forced(const scan_key_t *k)
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
void conf_classify_keys(load_t *ld, scan_group_t *group,
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
		if (conf_key_is_forced(k))
			k->field_known = field_known(ld, k->suffix);
	}
}

void conf_check_keys(load_t *ld, scan_group_t *group,
                     const char *const *known, gboolean mailconf)
{
	conf_classify_keys(ld, group, known, mailconf);
	for (guint i = 0; i < group->keys->len; i++) {
		const scan_key_t *k = &g_array_index(group->keys, scan_key_t, i);

		if (k->known >= 0)
			continue;
		if (k->suffix == NULL)
			conf_problem(ld, k->line, "unknown key %s in [%s]", k->key,
			             group->name);
		else if (!conf_key_is_forced(k) && !k->name_ok)
			conf_problem(ld, k->line, "%s: the name after %s may hold only "
			             "letters, digits and _", k->key, k->prefix);
		else if (conf_key_is_forced(k) && !k->field_known)
			conf_problem(ld, k->line, "%s: unknown work-order field %s",
			             k->key, k->suffix);
	}
}
