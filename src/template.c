/*
 * template.c: {parameter} templates of SPEC 3.6 (forced.FIELD values,
 * forced_debtor_number, workorder_no) and the built-in parameters of a run.
 * Expansion is a plain substitution: a value is never expanded again, so
 * text from a message can never reach into another parameter.
 */
#include "m2wo.h"

#include <string.h>

static const char *const builtin_names[] = {
	"subject", "sender_address", "email_display_name", "mail_content",
	"time_mail_process", "date_mail_process_dmy", "date_mail_process_ymd",
	"obj_code", "recipient", "message_id", "message_key", "config_name",
	NULL,
};

/* Called for each {name}; appends its value to out when out is non-NULL. */
typedef gboolean (*template_param_fn)(const char *name, GString *out,
                                      gpointer data, GError **error);

const char *const *template_builtin_names(void)
{
	return builtin_names;
}

/* Parameter names are what regex rule names may be: [A-Za-z0-9_]+. A
 * loop, as strspn with a set this long is slow. */
static gsize template_name_len(const char *text)
{
	const char *p = text;

	while (g_ascii_isalnum(*p) || *p == '_')
		p++;
	return p - text;
}

/* Handles the "{name}" starting at *p; on return *p is past the "}". */
static gboolean template_param(const char **p, const char *tmpl, GString *out,
                               template_param_fn fn, gpointer data,
                               GError **error)
{
	const char *start = *p + 1;
	gsize len = template_name_len(start);
	g_autofree char *name = NULL;

	if (start[len] != '}' || len == 0) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            start[len] == '\0'
		            ? "unterminated { at offset %d"
		            : "bad parameter name after { at offset %d",
		            (int)(*p - tmpl));
		return FALSE;
	}
	name = g_strndup(start, len);
	*p = start + len + 1;
	return fn(name, out, data, error);
}

/* Walks a template: literal text goes to out (when non-NULL), every
 * parameter to fn. One walker for checking and for expanding, so that both
 * agree on what a template means. */
static gboolean template_walk(const char *tmpl, GString *out,
                              template_param_fn fn, gpointer data,
                              GError **error)
{
	const char *p = tmpl;

	while (*p != '\0') {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			if (out != NULL)
				g_string_append_c(out, p[0]);
			p += 2;
		} else if (p[0] == '{') {
			if (!template_param(&p, tmpl, out, fn, data, error))
				return FALSE;
		} else if (p[0] == '}') {
			g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
			            "lone } at offset %d (write }} for a brace)",
			            (int)(p - tmpl));
			return FALSE;
		} else {
			if (out != NULL)
				g_string_append_c(out, *p);
			p++;
		}
	}
	return TRUE;
}

static gboolean unknown_parameter(const char *name, GError **error)
{
	g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
	            "unknown parameter {%s}", name);
	return FALSE;
}

static gboolean expand_param(const char *name, GString *out, gpointer data,
                             GError **error)
{
	GHashTable *params = data;
	const char *value = params != NULL ? g_hash_table_lookup(params, name)
	                                   : NULL;

	if (value == NULL)
		return unknown_parameter(name, error);
	/* Past the field limit the rest is cut anyway (workorder.c); stop
	 * growing so that {mail_content} repeated cannot eat memory. */
	if (out->len <= M2WO_MAX_FIELD_LEN)
		g_string_append(out, value);
	return TRUE;
}

char *template_expand(const char *tmpl, GHashTable *params, GError **error)
{
	g_autoptr(GString) out = g_string_new(NULL);

	if (!template_walk(tmpl, out, expand_param, params, error))
		return NULL;
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean check_param(const char *name, GString *out, gpointer data,
                            GError **error)
{
	const char *const *extra = data;

	if (g_strv_contains(builtin_names, name))
		return TRUE;
	if (extra != NULL && g_strv_contains(extra, name))
		return TRUE;
	return unknown_parameter(name, error);
}

gboolean template_check(const char *tmpl, const char *const *extra,
                        GError **error)
{
	return template_walk(tmpl, NULL, check_param, (gpointer)extra, error);
}

static void param_set(GHashTable *params, const char *name, const char *value)
{
	g_hash_table_replace(params, g_strdup(name),
	                     g_strdup(value != NULL ? value : ""));
}

static void fill_dates(GHashTable *params, GDateTime *now)
{
	g_autoptr(GDateTime) local = NULL;

	/* Pipelines set run->now; without it, the time is now. */
	local = now != NULL ? g_date_time_to_local(now)
	                    : g_date_time_new_now_local();
	g_hash_table_replace(params, g_strdup("time_mail_process"),
	                     g_date_time_format(local, "%H:%M"));
	g_hash_table_replace(params, g_strdup("date_mail_process_dmy"),
	                     g_date_time_format(local, "%d-%m-%Y"));
	g_hash_table_replace(params, g_strdup("date_mail_process_ymd"),
	                     g_date_time_format(local, "%Y-%m-%d"));
}

void template_fill_params(m2wo_run_t *run)
{
	const m2wo_msg_t *msg = run->msg;
	GHashTable *params;

	if (run->params == NULL)
		run->params = g_hash_table_new_full(g_str_hash, g_str_equal,
		                                    g_free, g_free);
	params = run->params;
	param_set(params, "subject", msg ? msg->subject : NULL);
	param_set(params, "sender_address", msg ? msg->from_address : NULL);
	param_set(params, "email_display_name", msg ? msg->from_name : NULL);
	param_set(params, "mail_content", msg ? msg->body : NULL);
	param_set(params, "message_id", msg ? msg->message_id : NULL);
	param_set(params, "message_key", msg ? msg->message_key : NULL);
	param_set(params, "recipient", run->recipient);
	param_set(params, "config_name", run->conf ? run->conf->name : NULL);
	/* A regex rule named obj_code sets it later (SPEC 3.4). */
	param_set(params, "obj_code", "");
	fill_dates(params, run->now);
}
