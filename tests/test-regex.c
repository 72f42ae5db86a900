/*
 * test-regex.c: unit tests of regex.c: compiling with UTF/UCP, the rule
 * value of SPEC 3.4, invalid UTF-8 subjects, the match and depth limits
 * (an error, never "no match"), and regex_apply_rules on a hand-made run.
 */
#include <string.h>

#include "m2wo.h"

typedef struct {
	const char *name;
	const char *pattern;
	const char *text;
	gssize len;              /* -1: strlen(text) */
	int want_rc;
	const char *want_value;
} value_case_t;

static const value_case_t value_cases[] = {
	{ "named-group", "Order (?<value>\\d+)", "Order 4711 please", -1,
	  1, "4711" },
	{ "named-group-wins-over-group-1", "(Order) (?<value>\\d+)",
	  "Order 4711 please", -1, 1, "4711" },
	{ "group-1", "Order: (\\d+) (\\w+)", "Order: 4711 now", -1, 1, "4711" },
	{ "whole-match", "\\d{4}", "Order 4711 please", -1, 1, "4711" },
	{ "first-match-only", "\\d+", "12 and 34", -1, 1, "12" },
	{ "unset-group", "(a)|b", "xbx", -1, 1, "" },
	{ "trimmed", "Name:(.*)", "Name:   Jan Jansen \u00a0\t\nnext", -1,
	  1, "Jan Jansen" },
	{ "trimmed-unicode-space", "Name:(.*)", "Name:\u200b\u3000Jan\u2003",
	  -1, 1, "Jan" },
	{ "no-match", "xyz", "abc", -1, 0, "" },
	{ "postcode", "\\b\\d{4}\\s?[A-Z]{2}\\b",
	  "Adres: Laan 5, 2586 JK Den Haag", -1, 1, "2586 JK" },
	{ "postcode-no-space", "\\b\\d{4}\\s?[A-Z]{2}\\b",
	  "Adres: Laan 5, 2586JK Den Haag", -1, 1, "2586JK" },
	{ "postcode-inside-word", "\\b\\d{4}\\s?[A-Z]{2}\\b",
	  "ref 12345678ABCD", -1, 0, "" },
	{ "phone-landline", "(?<value>(?:\\+31|0)\\s?[1-9](?:[\\s-]?\\d){8})",
	  "bel: +31 70 123 4567 graag", -1, 1, "+31 70 123 4567" },
	{ "phone-mobile", "(?<value>(?:\\+31|0)\\s?[1-9](?:[\\s-]?\\d){8})",
	  "tel 06-12345678.", -1, 1, "06-12345678" },
	{ "ucp-word", "Straat: (\\w+)", "Straat: \u00dc\u00dfelstra\u00dfe 12",
	  -1, 1, "\u00dc\u00dfelstra\u00dfe" },
	{ "invalid-utf8-skipped", "def", "abc\xff def", -1, 1, "def" },
	{ "invalid-utf8-never-matched", "c(.)d", "abc\xff" "d", -1, 0, "" },
	{ "invalid-utf8-value-stops", "(a.*)", "xa\xc3\xa9\xffzz", -1,
	  1, "a\u00e9" },
	{ "nul-byte-in-text", "b(.)", "a\0bc", 4, 1, "c" },
};

static void
test_value(gconstpointer data)
{
	const value_case_t *c = data;
	g_autoptr(GError) error = NULL;
	g_autofree char *value = NULL;
	pcre2_code *code = regex_compile(c->pattern, FALSE, &error);
	gsize len = c->len < 0 ? strlen(c->text) : (gsize)c->len;
	int rc;

	g_assert_no_error(error);
	g_assert_nonnull(code);
	rc = regex_search(code, c->text, len, &value, &error);
	g_assert_no_error(error);
	g_assert_cmpint(rc, ==, c->want_rc);
	g_assert_cmpstr(value, ==, c->want_value);
	g_assert_true(g_utf8_validate(value, -1, NULL));
	pcre2_code_free(code);
}

typedef struct {
	const char *name;
	const char *pattern;
	const char *want_in_message;
} compile_case_t;

static const compile_case_t compile_cases[] = {
	{ "missing-paren", "abc(", "at offset 4" },
	{ "bad-quantifier", "a{2,1}", "at offset 5" },
	{ "invalid-utf8-pattern", "ab\xff", "UTF-8" },
	{ "backslash-C-refused", "a\\Cb", "at offset" },
};

static void
test_compile_error(gconstpointer data)
{
	const compile_case_t *c = data;
	g_autoptr(GError) error = NULL;
	pcre2_code *code = regex_compile(c->pattern, FALSE, &error);

	g_assert_null(code);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG);
	if (strstr(error->message, c->want_in_message) == NULL) {
		g_test_message("got \"%s\", want it to contain \"%s\"",
		               error->message, c->want_in_message);
		g_test_fail();
	}
}

static void
test_caseless(void)
{
	g_autoptr(GError) error = NULL;
	pcre2_code *code = regex_compile("ST\u00d6RUNG", TRUE, &error);
	pcre2_code *exact = regex_compile("ST\u00d6RUNG", FALSE, &error);
	const char *text = "melding: st\u00f6rung in hal 3";

	g_assert_no_error(error);
	g_assert_cmpint(regex_search(code, text, strlen(text), NULL, &error),
	                ==, 1);
	g_assert_cmpint(regex_search(exact, text, strlen(text), NULL, &error),
	                ==, 0);
	g_assert_no_error(error);
	pcre2_code_free(code);
	pcre2_code_free(exact);
}

typedef struct {
	const char *name;
	const char *pattern;
	const char *unit;
	guint count;
	const char *tail;
} limit_case_t;

static const limit_case_t limit_cases[] = {
	/* Exponential backtracking: the match limit. */
	{ "match-limit", "(a+)+$", "a", 30, "b" },
	/* About 2 million steps: over M2WO_REGEX_MATCH_LIMIT, under PCRE2's
	 * default of 10 million, so this fails if the limit is not set. */
	{ "match-limit-is-m2wo-s", "(a+)+$", "a", 20, "b" },
	/* One backtracking frame per character: the depth limit. */
	{ "depth-limit", "(a|b)*\\d", "a", 4 * M2WO_REGEX_DEPTH_LIMIT, "!" },
	/* The limit hit after a start position other than the first. */
	{ "match-limit-later", "x(a+)+$", "a", 30, "xaaaaaaaaaaaaaaaaaaaaaaaaaaaab" },
};

static void
test_limit(gconstpointer data)
{
	const limit_case_t *c = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) text = g_string_new(NULL);
	g_autofree char *value = NULL;
	pcre2_code *code = regex_compile(c->pattern, FALSE, &error);
	gint64 start;
	int rc;

	g_assert_no_error(error);
	for (guint i = 0; i < c->count; i++)
		g_string_append(text, c->unit);
	g_string_append(text, c->tail);
	start = g_get_monotonic_time();
	rc = regex_search(code, text->str, text->len, &value, &error);
	g_assert_cmpint(rc, ==, -1);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_REGEX_LIMIT);
	g_assert_null(value);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
	pcre2_code_free(code);
}

/* A hand-made run with one configuration holding rules. */
typedef struct {
	m2wo_run_t run;
	m2wo_msg_t msg;
	m2wo_mailconf_t conf;
} fixture_t;

static void
fixture_init(fixture_t *f, const char *subject, const char *body)
{
	memset(f, 0, sizeof *f);
	f->msg.subject = g_strdup(subject);
	f->msg.body = g_strdup(body);
	f->msg.from_address = g_strdup("");
	f->conf.name = g_strdup("Storing");
	f->conf.regex_rules = g_ptr_array_new();
	f->run.msg = &f->msg;
	f->run.conf = &f->conf;
	f->run.explain = g_string_new(NULL);
}

static void
fixture_rule(fixture_t *f, const char *name, const char *pattern,
             gboolean subject)
{
	m2wo_regex_rule_t *rule = g_new0(m2wo_regex_rule_t, 1);

	rule->name = g_strdup(name);
	rule->pattern = g_strdup(pattern);
	rule->subject = subject;
	rule->line = 10 + (int)f->conf.regex_rules->len;
	g_ptr_array_add(f->conf.regex_rules, rule);
}

static void
fixture_clear(fixture_t *f)
{
	for (guint i = 0; i < f->conf.regex_rules->len; i++) {
		m2wo_regex_rule_t *rule = f->conf.regex_rules->pdata[i];

		g_free(rule->name);
		g_free(rule->pattern);
		pcre2_code_free(rule->code);
		g_free(rule);
	}
	g_ptr_array_free(f->conf.regex_rules, TRUE);
	g_free(f->conf.name);
	g_free(f->msg.subject);
	g_free(f->msg.body);
	g_free(f->msg.from_address);
	g_clear_pointer(&f->run.params, g_hash_table_unref);
	g_string_free(f->run.explain, TRUE);
}

/* Fails the test case, not the whole program, with got and want. */
static void
assert_contains(const char *got, const char *want)
{
	if (strstr(got, want) == NULL) {
		g_test_message("got \"%s\", want it to contain \"%s\"", got, want);
		g_test_fail();
	}
}

static void
test_apply_rules(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;
	const char *want[][2] = {
		{ "customer_zip", "2586 JK" },
		{ "ticket", "1234" },
		{ "none", "" },
	};

	fixture_init(&f, "Storing #1234 bij ACME",
	             "Adres: Laan 5\n2586 JK  Den Haag\n");
	fixture_rule(&f, "customer_zip", "\\b\\d{4}\\s?[A-Z]{2}\\b", FALSE);
	fixture_rule(&f, "ticket", "#(\\d+)", TRUE);
	fixture_rule(&f, "none", "zzz", FALSE);
	g_assert_cmpint(regex_apply_rules(&f.run, &error), ==, 2);
	g_assert_no_error(error);
	for (gsize i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpstr(g_hash_table_lookup(f.run.params, want[i][0]), ==,
		                want[i][1]);
	assert_contains(f.run.explain->str,
	                "regex.customer_zip: captured \"2586 JK\"\n");
	assert_contains(f.run.explain->str,
	                "subject_regex.ticket: captured \"1234\"\n");
	assert_contains(f.run.explain->str, "regex.none: no match\n");
	/* compiled on first use, kept for the next message */
	g_assert_nonnull(((m2wo_regex_rule_t *)f.conf.regex_rules->pdata[0])->code);
	fixture_clear(&f);
}

static void
test_apply_replaces_param(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, "s", "Klant: ACME");
	f.run.params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                     g_free);
	g_hash_table_insert(f.run.params, g_strdup("customer_name"),
	                    g_strdup("old"));
	fixture_rule(&f, "customer_name", "Klant: (.*)", FALSE);
	g_assert_cmpint(regex_apply_rules(&f.run, &error), ==, 1);
	g_assert_cmpstr(g_hash_table_lookup(f.run.params, "customer_name"), ==,
	                "ACME");
	fixture_clear(&f);
}

static void
test_apply_long_value_explained_short(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;
	g_autofree char *body = g_strnfill(300, 'x');
	const char *line;

	fixture_init(&f, "s", body);
	fixture_rule(&f, "all", "x+", FALSE);
	g_assert_cmpint(regex_apply_rules(&f.run, &error), ==, 1);
	g_assert_cmpuint(strlen(g_hash_table_lookup(f.run.params, "all")), ==,
	                 300);
	line = f.run.explain->str;
	g_assert_cmpuint(strlen(line), <, 120);
	assert_contains(line, "\u2026\"");
	fixture_clear(&f);
}

static void
test_apply_compile_error(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, "s", "b");
	fixture_rule(&f, "good", "b", FALSE);
	fixture_rule(&f, "broken", "a(", FALSE);
	g_assert_cmpint(regex_apply_rules(&f.run, &error), ==, -1);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG);
	assert_contains(error->message, "regex.broken (line 11)");
	assert_contains(error->message, "at offset 2");
	fixture_clear(&f);
}

static void
test_apply_limit(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;
	g_autofree char *subject = g_strconcat("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	                                       "b", NULL);

	fixture_init(&f, subject, "body");
	fixture_rule(&f, "slow", "(a+)+$", TRUE);
	g_assert_cmpint(regex_apply_rules(&f.run, &error), ==, -1);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_REGEX_LIMIT);
	g_assert_true(g_str_has_prefix(error->message,
	                               "regex limit in subject_regex.slow"));
	fixture_clear(&f);
}

typedef struct {
	const char *name;
	const char *text;
	gssize len;
	const char *want;
} trim_case_t;

static const trim_case_t trim_cases[] = {
	{ "ascii", "  a b \t\r\n", -1, "a b" },
	{ "nbsp-and-ideographic", "\u00a0\u3000a\u00a0", -1, "a" },
	{ "zwsp-and-bom", "\ufeff\u200ba\u200b", -1, "a" },
	{ "all-space", " \u00a0 ", -1, "" },
	{ "length", "  ab  cd", 5, "ab" },
	{ "invalid-utf8", " a\xff ", -1, "a\ufffd" },
	{ "null", NULL, -1, "" },
};

static void
test_trim(gconstpointer data)
{
	const trim_case_t *c = data;
	g_autofree char *got = regex_trim(c->text, c->len);

	g_assert_cmpstr(got, ==, c->want);
}

#define ADD_TABLE(prefix, table, fn) \
	for (gsize i = 0; i < G_N_ELEMENTS(table); i++) { \
		g_autofree char *path = g_strconcat(prefix, table[i].name, NULL); \
		g_test_add_data_func(path, &table[i], fn); \
	}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD_TABLE("/regex/value/", value_cases, test_value);
	ADD_TABLE("/regex/compile-error/", compile_cases, test_compile_error);
	ADD_TABLE("/regex/limit/", limit_cases, test_limit);
	ADD_TABLE("/regex/trim/", trim_cases, test_trim);
	g_test_add_func("/regex/caseless", test_caseless);
	g_test_add_func("/regex/apply/rules", test_apply_rules);
	g_test_add_func("/regex/apply/replaces-param", test_apply_replaces_param);
	g_test_add_func("/regex/apply/long-value-explained-short",
	                test_apply_long_value_explained_short);
	g_test_add_func("/regex/apply/compile-error", test_apply_compile_error);
	g_test_add_func("/regex/apply/limit", test_apply_limit);
	return g_test_run();
}
