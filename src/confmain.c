/*
 * confmain.c: the [m2wo] group of m2wo.conf (SPEC 3.1): the API, the token
 * files, limits, policies and paths, each checked against its allowed
 * values. Relative paths are taken from the configuration file's folder;
 * it never opens a token file (config.c does, and never logs one).
 */
#include <string.h>
#include <syslog.h>

#include "m2wo.h"
#include "confload.h"


/* A key of [m2wo], or NULL. */
static const scan_key_t *main_key(load_t *ld, const char *key)
{
	return scan_key_find(ld->main, key);
}

int conf_main_line(load_t *ld, const char *key)
{
	const scan_key_t *k = main_key(ld, key);

	return k != NULL ? k->line : 0;
}

static void get_number(load_t *ld, const char *key, guint64 min, guint64 max,
                       guint64 *out)
{
	const scan_key_t *k = main_key(ld, key);
	g_autofree char *raw = conf_get_raw(ld, ld->main, k);

	if (k == NULL)
		return;
	if (raw == NULL
	    || !g_ascii_string_to_unsigned(raw, 10, min, max, out, NULL)) {
		conf_problem(ld, k->line,
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
	g_autofree char *value = conf_get_string(ld, ld->main, main_key(ld, key));

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
	g_autofree char *value = conf_get_string(ld, ld->main, k);
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
	conf_problem(ld, k->line, "%s: %s is not one of %s",
	             key, value, names->str);
}

const char *const conf_main_keys[] = {
	"api_url", "token_file", "software_token_file", "bearer_token_file",
	"ca_file", "request_timeout", "deadline", "max_message_size",
	"workorder_no", "dedupe", "on_unmatched", "on_autoreply", "on_reject",
	"quarantine_dir", "daily_limit", "state_dir", "syslog_facility",
	"audit_file", NULL,
};

static void check_api_url(load_t *ld, const char *url)
{
	int line = conf_main_line(ld, "api_url");

	/* The tokens travel in the query string: never over plain HTTP. */
	if (g_ascii_strncasecmp(url, "https://", 8) != 0 || url[8] == '\0'
	    || url[8] == '/')
		conf_problem(ld, line, "api_url: must be an https:// URL");
	else if (strpbrk(url, "?# \t") != NULL)
		conf_problem(ld, line, "api_url: must not hold a query, a fragment "
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
	c->token_file_line = conf_main_line(ld, "token_file");
	c->software_token_file_line = conf_main_line(ld, "software_token_file");
	c->bearer_token_file_line = conf_main_line(ld, "bearer_token_file");
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
		conf_problem(ld, conf_main_line(ld, key),
		             "%s = quarantine needs quarantine_dir", key);
}

static void require_main_key(load_t *ld, const char *key, const char *value)
{
	if (value != NULL)
		return;
	if (main_key(ld, key) != NULL)
		conf_problem(ld, conf_main_line(ld, key), "%s: empty", key);
	else
		conf_problem(ld, ld->main != NULL ? ld->main->line : 0,
		             "[m2wo]: %s missing", key);
}

void conf_load_main(load_t *ld)
{
	m2wo_config_t *c = ld->config;
	char *value;

	if ((value = conf_get_string(ld, ld->main, main_key(ld, "api_url"))) != NULL) {
		g_free(c->api_url);
		c->api_url = value;
	}
	check_api_url(ld, c->api_url);
	if ((value = conf_get_string(ld, ld->main, main_key(ld, "workorder_no")))
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

const char *policy_to_string(m2wo_policy_t policy)
{
	for (const choice_t *c = policies; c->name != NULL; c++)
		if (c->value == (int)policy)
			return c->name;
	return "unknown";
}
