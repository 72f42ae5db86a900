/*
 * test-template.c: {parameter} templates (SPEC 3.6): expansion, literal
 * braces, unknown parameters and syntax errors, the built-in names, and the
 * parameters a run fills in, with a fixed clock.
 */
#include "m2wo.h"

#include <string.h>

static GHashTable *test_params(void)
{
	GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal,
	                                           g_free, g_free);

	g_hash_table_insert(params, g_strdup("subject"), g_strdup("Lekkage"));
	g_hash_table_insert(params, g_strdup("zip"), g_strdup("1234 AB"));
	g_hash_table_insert(params, g_strdup("empty"), g_strdup(""));
	g_hash_table_insert(params, g_strdup("tricky"), g_strdup("{zip}}"));
	g_hash_table_insert(params, g_strdup("a_1"), g_strdup("x"));
	return params;
}

typedef struct {
	const char *tmpl;
	const char *want;        /* NULL: expansion must fail */
	const char *error_has;   /* text the error message must hold */
} expand_case_t;

static const expand_case_t expand_cases[] = {
	{ "", "", NULL },
	{ "plain text", "plain text", NULL },
	{ "{subject}", "Lekkage", NULL },
	{ "Storing: {subject} ({zip})", "Storing: Lekkage (1234 AB)", NULL },
	{ "{subject}{zip}", "Lekkage1234 AB", NULL },
	{ "[{empty}]", "[]", NULL },
	{ "{a_1}", "x", NULL },
	{ "{{subject}}", "{subject}", NULL },
	{ "{{{subject}}}", "{Lekkage}", NULL },
	{ "a }} b {{", "a } b {", NULL },
	{ "é {zip} ü", "é 1234 AB ü", NULL },
	/* A value is inserted as it is, never expanded again. */
	{ "{tricky}", "{zip}}", NULL },
	{ "{nope}", NULL, "unknown parameter {nope}" },
	{ "ok {subject} {Subject}", NULL, "unknown parameter {Subject}" },
	{ "{subject", NULL, "unterminated {" },
	{ "{", NULL, "unterminated {" },
	{ "a } b", NULL, "lone }" },
	{ "}", NULL, "lone }" },
	{ "{}", NULL, "bad parameter name" },
	{ "{sub ject}", NULL, "bad parameter name" },
	{ "{zip-code}", NULL, "bad parameter name" },
	{ "{{subject}", NULL, "lone }" },
};

static void test_expand(void)
{
	g_autoptr(GHashTable) params = test_params();

	for (guint i = 0; i < G_N_ELEMENTS(expand_cases); i++) {
		const expand_case_t *c = &expand_cases[i];
		g_autoptr(GError) error = NULL;
		g_autofree char *got = template_expand(c->tmpl, params, &error);

		if (c->want != NULL && g_strcmp0(got, c->want) != 0)
			g_test_fail_printf("expand \"%s\": got \"%s\" (%s), want \"%s\"",
			                   c->tmpl, got ? got : "(null)",
			                   error ? error->message : "no error", c->want);
		if (c->want == NULL && (got != NULL || error == NULL
		    || !g_error_matches(error, M2WO_ERROR, M2WO_ERROR_CONFIG)
		    || strstr(error->message, c->error_has) == NULL))
			g_test_fail_printf("expand \"%s\": got \"%s\" (%s), want a "
			                   "configuration error with \"%s\"", c->tmpl,
			                   got ? got : "(null)",
			                   error ? error->message : "no error",
			                   c->error_has);
	}
}

/* template_check agrees with template_expand on syntax and knows the
 * built-ins plus the extra (regex rule) names. */
static void test_check(void)
{
	static const char *const extra[] = { "zip", "customer_phone", NULL };
	static const struct {
		const char *tmpl;
		gboolean extra;
		gboolean ok;
	} cases[] = {
		{ "M2WO-{message_key}", FALSE, TRUE },
		{ "{obj_code} {config_name} {recipient}", FALSE, TRUE },
		{ "{zip}", FALSE, FALSE },
		{ "{zip}", TRUE, TRUE },
		{ "{customer_phone} {subject}", TRUE, TRUE },
		{ "{customer_email}", TRUE, FALSE },
		{ "{{zip}}", FALSE, TRUE },
		{ "{subject", TRUE, FALSE },
		{ "subject}", TRUE, FALSE },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		gboolean got = template_check(cases[i].tmpl,
		                              cases[i].extra ? extra : NULL, &error);

		if (got != cases[i].ok)
			g_test_fail_printf("check \"%s\" (extra %d): got %d, want %d",
			                   cases[i].tmpl, cases[i].extra, got,
			                   cases[i].ok);
		if (!got)
			g_assert_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG);
		else
			g_assert_no_error(error);
	}
}

static void test_builtin_names(void)
{
	static const char *const want[] = {
		"subject", "sender_address", "email_display_name", "mail_content",
		"time_mail_process", "date_mail_process_dmy",
		"date_mail_process_ymd", "obj_code", "recipient", "message_id",
		"message_key", "config_name", NULL,
	};
	const char *const *got = template_builtin_names();

	g_assert_cmpuint(g_strv_length((char **)got), ==, g_strv_length(
	                 (char **)want));
	for (int i = 0; want[i] != NULL; i++) {
		g_autofree char *tmpl = g_strdup_printf("{%s}", want[i]);

		if (!g_strv_contains(got, want[i]))
			g_test_fail_printf("built-in %s missing", want[i]);
		g_assert_true(template_check(tmpl, NULL, NULL));
	}
}

static void test_fill_params(void)
{
	m2wo_msg_t msg = { 0 };
	m2wo_mailconf_t conf = { 0 };
	m2wo_run_t run = { 0 };
	static const char *const want[][2] = {
		{ "subject", "Storing CV-ketel" },
		{ "sender_address", "jan@example.com" },
		{ "email_display_name", "Jan Jansen" },
		{ "mail_content", "De ketel lekt.\n" },
		{ "message_id", "abc@example.com" },
		{ "message_key", "7Q3K9ZD2XW4A" },
		{ "recipient", "storing@service.example" },
		{ "config_name", "Storing ACME" },
		{ "obj_code", "" },
		{ "time_mail_process", "09:05" },
		{ "date_mail_process_dmy", "07-03-2024" },
		{ "date_mail_process_ymd", "2024-03-07" },
	};

	msg.subject = "Storing CV-ketel";
	msg.from_address = "jan@example.com";
	msg.from_name = "Jan Jansen";
	msg.body = "De ketel lekt.\n";
	msg.message_id = "abc@example.com";
	g_strlcpy(msg.message_key, "7Q3K9ZD2XW4A", sizeof msg.message_key);
	conf.name = "Storing ACME";
	run.msg = &msg;
	run.conf = &conf;
	run.recipient = "storing@service.example";
	run.now = g_date_time_new_local(2024, 3, 7, 9, 5, 42);
	template_fill_params(&run);
	g_assert_nonnull(run.params);
	for (guint i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpstr(g_hash_table_lookup(run.params, want[i][0]), ==,
		                want[i][1]);
	g_assert_cmpuint(g_hash_table_size(run.params), ==, G_N_ELEMENTS(want));
	g_date_time_unref(run.now);
	g_hash_table_unref(run.params);
}

/* Nothing known yet: every built-in is there, and empty. */
static void test_fill_params_empty(void)
{
	m2wo_run_t run = { 0 };
	const char *const *names = template_builtin_names();

	run.now = g_date_time_new_local(1999, 12, 31, 23, 59, 0);
	run.params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                   g_free);
	g_hash_table_insert(run.params, g_strdup("zip"), g_strdup("1234"));
	template_fill_params(&run);
	for (int i = 0; names[i] != NULL; i++)
		g_assert_nonnull(g_hash_table_lookup(run.params, names[i]));
	g_assert_cmpstr(g_hash_table_lookup(run.params, "subject"), ==, "");
	g_assert_cmpstr(g_hash_table_lookup(run.params, "config_name"), ==, "");
	g_assert_cmpstr(g_hash_table_lookup(run.params, "date_mail_process_dmy"),
	                ==, "31-12-1999");
	g_assert_cmpstr(g_hash_table_lookup(run.params, "time_mail_process"),
	                ==, "23:59");
	g_assert_cmpstr(g_hash_table_lookup(run.params, "zip"), ==, "1234");
	g_date_time_unref(run.now);
	g_hash_table_unref(run.params);
}

/* A template that repeats a large value stops growing past the field
 * limit instead of eating memory. */
static void test_expand_bounded(void)
{
	g_autoptr(GHashTable) params = test_params();
	g_autofree char *big = g_strnfill(M2WO_MAX_FIELD_LEN / 2, 'x');
	g_autoptr(GString) tmpl = g_string_new(NULL);
	g_autofree char *got = NULL;

	g_hash_table_insert(params, g_strdup("big"), g_strdup(big));
	for (int i = 0; i < 100; i++)
		g_string_append(tmpl, "{big}");
	got = template_expand(tmpl->str, params, NULL);
	g_assert_nonnull(got);
	g_assert_cmpuint(strlen(got), >, M2WO_MAX_FIELD_LEN);
	g_assert_cmpuint(strlen(got), <=, 2 * M2WO_MAX_FIELD_LEN);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/template/expand", test_expand);
	g_test_add_func("/template/check", test_check);
	g_test_add_func("/template/builtin-names", test_builtin_names);
	g_test_add_func("/template/fill-params", test_fill_params);
	g_test_add_func("/template/fill-params-empty", test_fill_params_empty);
	g_test_add_func("/template/expand-bounded", test_expand_bounded);
	return g_test_run();
}
