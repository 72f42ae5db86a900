/*
 * confmail.c: the mail configurations of m2wo.conf, [defaults] and every
 * [config NAME] (SPEC 3.2): the sender matcher, customer rules, regex rules
 * and forced fields, with [defaults] filling in per key, then the templates
 * checked against each configuration's rule names (SPEC 3.6). It compiles
 * the patterns only for --check-config (compile_all): a run compiles only
 * what it uses.
 */
#include <string.h>

#include "m2wo.h"
#include "confload.h"


void conf_load_free(conf_load_t *cl)
{
	g_free(cl->rule_names);
	g_free(cl);
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
		conf_get_bool(ld, from, k, out);
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
		conf_problem(ld, k->line,
		             "%s: {%s} is a built-in parameter; name the rule otherwise",
		             k->key, name);
		return NULL;
	}
	pattern = conf_get_raw(ld, group, k);
	if (pattern == NULL) {
		conf_problem(ld, k->line, "%s: empty pattern", k->key);
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
	char *value = conf_get_string(ld, group, k);

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
		if (conf_key_is_forced(k)) {
			if (!k->field_known
			    || (inherited && conf_has_forced(conf, k->suffix)))
				continue;
			g_ptr_array_add(conf->forced, forced_new(ld, group, k));
		} else if (conf_has_rule(conf, k->suffix)) {
			if (!inherited)
				conf_problem(ld, k->line, "%s: a rule named %s is already "
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
		conf_problem(ld, line, "%s: %s", what,
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
		conf_problem(ld, conf->line, "[%s]: sender_value missing (sender_type "
		             "%s needs one)", group->name, conf->matcher->name);
		return;
	}
	if (!conf->matcher->regex) {
		conf->sender_values = conf_get_list(ld, from, k);
		if (conf->sender_values != NULL && conf->sender_values[0] == NULL)
			conf_problem(ld, k->line, "sender_value: empty");
		return;
	}
	if ((pattern = conf_get_raw(ld, from, k)) == NULL) {
		conf_problem(ld, k->line, "sender_value: empty");
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
		conf_problem(ld, conf->line, "[%s]: sender_type missing", group->name);
		return;
	}
	if ((type = conf_get_string(ld, from, k)) == NULL) {
		if ((raw = conf_get_raw(ld, from, k)) == NULL)
			conf_problem(ld, k->line, "sender_type: empty");
		return;
	}
	conf->matcher = match_lookup(type);
	if (conf->matcher == NULL) {
		conf_problem(ld, k->line, "sender_type: unknown type %s", type);
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
	g_auto(GStrv) names = from ? conf_get_list(ld, from, k) : NULL;

	for (int i = 0; names != NULL && names[i] != NULL; i++) {
		const m2wo_customer_rule_t *rule = customer_rule_lookup(names[i]);

		if (rule == NULL)
			conf_problem(ld, k->line, "customer_rules: unknown rule %s",
			             names[i]);
		else
			g_ptr_array_add(conf->customer_rules, (gpointer)rule);
	}
}

static char *conf_string(load_t *ld, const scan_group_t *group, int slot)
{
	const scan_key_t *k;
	const scan_group_t *from = value_group(ld, group, slot, &k);

	return from != NULL ? conf_get_string(ld, from, k) : NULL;
}

void mailconf_free(m2wo_mailconf_t *conf)
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
		conf_problem(ld, line, "%s%s: %s", prefix, key, first);
		return;
	}
	for (guint i = 0; failed != NULL && i < failed->len; i++)
		conf_problem(ld, line, "%s", (char *)g_ptr_array_index(failed, i));
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
	g_autofree char *tmpl = conf_get_string(ld, ld->defaults, k);

	if (conf_key_is_forced(k) && !k->field_known)
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
	               conf_main_line(ld, "workorder_no"),
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
		conf_check_keys(ld, group, conf_main_keys, FALSE);
	} else if (strcmp(group->name, GROUP_DEFAULTS) == 0) {
		conf_check_keys(ld, group, mailconf_keys, TRUE);
	} else if (name == NULL) {
		conf_problem(ld, group->line, "unknown group [%s]", group->name);
	} else if (*name == '\0') {
		conf_problem(ld, group->line, "[%s]: the configuration needs a name",
		             group->name);
	} else if (mailconf_named(ld, name)) {
		conf_problem(ld, group->line, "[%s]: another configuration is named %s",
		             group->name, name);
	} else {
		conf_check_keys(ld, group, mailconf_keys, TRUE);
		load_mailconf(ld, group, name);
	}
}

void conf_load_all(load_t *ld)
{
	conf_load_main(ld);
	/* Every configuration reads its defaults from it, wherever it is. */
	if (ld->defaults != NULL)
		conf_classify_keys(ld, ld->defaults, mailconf_keys, TRUE);
	for (guint i = 0; i < ld->groups->len; i++)
		load_group(ld, g_ptr_array_index(ld->groups, i));
	/* Without its configurations a template may name rules that only
	 * they define; the full load that made the snapshot checked them. */
	if (!ld->reduced || ld->confs->len > 0)
		check_templates(ld);
	if (ld->compile_all)
		compile_rules(ld);
}
