/*
 * test-match.c: unit tests of match.c: every sender_type of SPEC 3.3 with
 * yes and no cases (';' lists, *.domain, Unicode case folding, Recipient
 * without a recipient), then match_pick: inactive configurations skipped,
 * first match wins, and a regex limit is an error, not a "no".
 */
#include <string.h>

#include "m2wo.h"

typedef struct {
	const char *name;
	const char *type;        /* sender_type */
	const char *values;      /* sender_value as written, ';' separated */
	const char *from;
	const char *subject;
	const char *body;
	const char *recipient;   /* NULL: none given */
	int want;
} match_case_t;

#define FROM(f)       f, "Subject", "Body text.", "storing@service.example"
#define SUBJ(s)       "jan@example.com", s, "Body text.", "storing@service.example"
#define BODY(b)       "jan@example.com", "Subject", b, "storing@service.example"
#define RCPT(r)       "jan@example.com", "Subject", "Body text.", r

static const match_case_t match_cases[] = {
	{ "sender/equal", "Sender", "a@b.nl;jan@example.com",
	  FROM("jan@example.com"), 1 },
	{ "sender/case", "Sender", "Jan@Example.COM", FROM("jan@example.com"), 1 },
	{ "sender/spaces-in-list", "Sender", "a@b.nl; jan@example.com ",
	  FROM("jan@example.com"), 1 },
	{ "sender/other", "Sender", "a@b.nl;c@d.nl", FROM("jan@example.com"), 0 },
	{ "sender/not-a-substring", "Sender", "an@example.com",
	  FROM("jan@example.com"), 0 },
	{ "sender/no-from", "Sender", "a@b.nl", FROM(""), 0 },
	{ "sender/empty-item-accepts-nothing", "Sender", "a@b.nl;;", FROM(""), 0 },

	{ "domain/equal", "SenderDomain", "example.com",
	  FROM("jan@example.com"), 1 },
	{ "domain/plain-value-no-subdomain", "SenderDomain", "example.com",
	  FROM("jan@mail.example.com"), 0 },
	{ "domain/wildcard-subdomain", "SenderDomain", "*.example.com",
	  FROM("jan@mail.example.com"), 1 },
	{ "domain/wildcard-deep", "SenderDomain", "*.example.com",
	  FROM("jan@a.b.example.com"), 1 },
	{ "domain/wildcard-itself", "SenderDomain", "*.example.com",
	  FROM("jan@example.com"), 1 },
	{ "domain/wildcard-not-a-suffix-word", "SenderDomain", "*.example.com",
	  FROM("jan@badexample.com"), 0 },
	{ "domain/case", "SenderDomain", "Example.COM", FROM("jan@EXAMPLE.com"), 1 },
	{ "domain/list", "SenderDomain", "acme.nl;*.example.com",
	  FROM("x@acme.nl"), 1 },
	{ "domain/other", "SenderDomain", "example.com", FROM("jan@example.org"), 0 },
	{ "domain/no-domain", "SenderDomain", "example.com", FROM("jan"), 0 },

	{ "title-contains/case", "TitleContains", "storing",
	  SUBJ("Melding STORING hal 3"), 1 },
	{ "title-contains/umlaut", "TitleContains", "st\u00f6rung",
	  SUBJ("ST\u00d6RUNG im Lager"), 1 },
	{ "title-contains/decomposed", "TitleContains", "st\u00f6rung",
	  SUBJ("STO\u0308RUNG im Lager"), 1 },
	{ "title-contains/ligature", "TitleContains", "file",
	  SUBJ("Broken \ufb01le server"), 1 },
	{ "title-contains/sharp-s", "TitleContains", "STRASSE",
	  SUBJ("Hauptstra\u00dfe 1"), 1 },
	{ "title-contains/compatibility-then-fold", "TitleContains", "100 mhz",
	  SUBJ("Zender 100 \u3392 defect"), 1 },
	{ "title-contains/empty-item-accepts-nothing", "TitleContains",
	  "storing;;lekkage; ", SUBJ("Offerte"), 0 },
	{ "title-contains/list-second", "TitleContains", "storing;lekkage",
	  SUBJ("Lekkage badkamer"), 1 },
	{ "title-contains/none", "TitleContains", "storing;lekkage",
	  SUBJ("Offerte"), 0 },

	{ "title-equals/trimmed", "TitleEquals", "storing",
	  SUBJ("  Storing \u00a0"), 1 },
	{ "title-equals/not-contains", "TitleEquals", "storing",
	  SUBJ("Storing hal 3"), 0 },
	{ "title-equals/unicode-case", "TitleEquals", "\u00c9COLE",
	  SUBJ("\u00e9cole"), 1 },

	{ "message-contains/yes", "MessageContains", "lekkage",
	  BODY("Er is een\nLEKKAGE in de kelder."), 1 },
	{ "message-contains/no", "MessageContains", "lekkage",
	  BODY("Alles goed."), 0 },

	{ "any/always", "Any", "", "", "", "", NULL, 1 },

	{ "recipient/equal", "Recipient", "storing@service.example",
	  RCPT("Storing@Service.Example"), 1 },
	{ "recipient/list", "Recipient", "a@x.nl;storing@service.example",
	  RCPT("storing@service.example"), 1 },
	{ "recipient/other", "Recipient", "storing@service.example",
	  RCPT("sales@service.example"), 0 },
	{ "recipient/none-given", "Recipient", "storing@service.example",
	  RCPT(NULL), 0 },
	{ "recipient/empty", "Recipient", "storing@service.example", RCPT(""), 0 },

	{ "sender-regex/yes", "SenderRegex", "^[^@]+@(?:mail\\.)?acme\\.nl$",
	  FROM("jan@mail.acme.nl"), 1 },
	{ "sender-regex/anchored-no", "SenderRegex",
	  "^[^@]+@(?:mail\\.)?acme\\.nl$", FROM("jan@acme.nl.evil.com"), 0 },
	{ "sender-regex/case-sensitive", "SenderRegex", "^JAN@",
	  FROM("jan@acme.nl"), 0 },
	{ "sender-regex/inline-caseless", "SenderRegex", "(?i)^JAN@",
	  FROM("jan@acme.nl"), 1 },
	{ "title-regex/yes", "TitleRegex", "#\\d{4}", SUBJ("Ticket #1234"), 1 },
	{ "title-regex/no", "TitleRegex", "#\\d{4}", SUBJ("Ticket #12"), 0 },
	{ "message-regex/postcode", "MessageRegex", "\\b\\d{4}\\s?[A-Z]{2}\\b",
	  BODY("Adres:\n2586 JK Den Haag"), 1 },
	{ "message-regex/semicolon-is-literal", "MessageRegex", "x;y",
	  BODY("a x;y b"), 1 },
};

/* A hand-made run holding one message. */
typedef struct {
	m2wo_run_t run;
	m2wo_msg_t msg;
	m2wo_config_t config;
} fixture_t;

static void
fixture_init(fixture_t *f, const char *from, const char *subject,
             const char *body, const char *recipient)
{
	memset(f, 0, sizeof *f);
	f->msg.from_address = g_strdup(from);
	f->msg.subject = g_strdup(subject);
	f->msg.body = g_strdup(body);
	f->run.msg = &f->msg;
	f->run.recipient = g_strdup(recipient);
	f->run.config = &f->config;
	f->run.explain = g_string_new(NULL);
	f->config.mailconfs = g_ptr_array_new();
}

static m2wo_mailconf_t *
conf_new(const char *name, const char *type, const char *values,
         gboolean active)
{
	m2wo_mailconf_t *conf = g_new0(m2wo_mailconf_t, 1);

	conf->name = g_strdup(name);
	conf->active = active;
	conf->matcher = match_lookup(type);
	g_assert_nonnull(conf->matcher);
	/* As the configuration reads it: a ';' list, one pattern for *Regex. */
	if (conf->matcher->regex)
		conf->sender_values = g_strsplit(values, "\x01", -1);
	else
		conf->sender_values = g_strsplit(values, ";", -1);
	return conf;
}

static void
conf_free(m2wo_mailconf_t *conf)
{
	g_free(conf->name);
	g_strfreev(conf->sender_values);
	pcre2_code_free(conf->sender_code);
	g_free(conf);
}

static void
fixture_add(fixture_t *f, const char *name, const char *type,
            const char *values, gboolean active)
{
	g_ptr_array_add(f->config.mailconfs, conf_new(name, type, values, active));
}

static void
fixture_clear(fixture_t *f)
{
	g_ptr_array_set_free_func(f->config.mailconfs, (GDestroyNotify)conf_free);
	g_ptr_array_free(f->config.mailconfs, TRUE);
	g_free(f->msg.from_address);
	g_free(f->msg.subject);
	g_free(f->msg.body);
	g_free(f->run.recipient);
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
test_matcher(gconstpointer data)
{
	const match_case_t *c = data;
	fixture_t f;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) why = g_string_new(NULL);
	m2wo_mailconf_t *conf;
	int rc;

	fixture_init(&f, c->from, c->subject, c->body, c->recipient);
	fixture_add(&f, "c", c->type, c->values, TRUE);
	conf = f.config.mailconfs->pdata[0];
	rc = conf->matcher->match(conf, &f.run, why, &error);
	g_assert_no_error(error);
	if (rc != c->want) {
		g_test_message("got %d, want %d (%s)", rc, c->want, why->str);
		g_test_fail();
	}
	g_assert_cmpuint(why->len, >, 0);
	fixture_clear(&f);
}

static void
test_lookup(void)
{
	static const char *const names[] = {
		"Sender", "SenderDomain", "TitleContains", "TitleEquals",
		"MessageContains", "Any", "Recipient", "SenderRegex",
		"TitleRegex", "MessageRegex",
	};
	guint n = 0;

	for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
		const m2wo_matcher_t *m = match_lookup(names[i]);

		g_assert_nonnull(m);
		g_assert_cmpstr(m->name, ==, names[i]);
		g_assert_nonnull(m->describe);
		g_assert_cmpint(m->regex, ==, g_str_has_suffix(names[i], "Regex"));
	}
	while (match_nth(n) != NULL)
		n++;
	g_assert_cmpuint(n, ==, G_N_ELEMENTS(names));
	g_assert_null(match_lookup("sender"));
	g_assert_null(match_lookup("FromDomain"));
	g_assert_null(match_lookup(NULL));
}

static void
test_explain_words(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, "jan@example.org", "Storing", "b", NULL);
	fixture_add(&f, "Storing ACME", "SenderDomain", "example.com", TRUE);
	fixture_add(&f, "Two", "Sender", "a@b.nl;c@d.nl", TRUE);
	fixture_add(&f, "Title", "TitleContains", "storing", TRUE);
	g_assert_cmpint(match_pick(&f.run, &error), ==, 1);
	assert_contains(f.run.explain->str, "config \"Storing ACME\" "
	                "(SenderDomain: the From address's domain equals a "
	                "value): no, From domain example.org is not "
	                "\"example.com\"\n");
	assert_contains(f.run.explain->str, "config \"Two\" (Sender: the From "
	                "address equals a value): no, From jan@example.org is "
	                "not one of: \"a@b.nl\", \"c@d.nl\"\n");
	assert_contains(f.run.explain->str, "config \"Title\" (TitleContains: "
	                "the subject contains a value): yes, subject "
	                "\"Storing\" contains \"storing\"\n");
	fixture_clear(&f);
}

static void
test_first_match_wins(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, "jan@mail.example.com", "Storing", "b", NULL);
	fixture_add(&f, "A", "Sender", "x@y.nl", TRUE);
	fixture_add(&f, "B", "SenderDomain", "*.example.com", TRUE);
	fixture_add(&f, "C", "Any", "", TRUE);
	g_assert_cmpint(match_pick(&f.run, &error), ==, 1);
	g_assert_no_error(error);
	g_assert_nonnull(f.run.conf);
	g_assert_cmpstr(f.run.conf->name, ==, "B");
	g_assert_null(strstr(f.run.explain->str, "config \"C\""));
	fixture_clear(&f);
}

static void
test_inactive_skipped(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, "jan@example.com", "s", "b", NULL);
	fixture_add(&f, "Off", "Any", "", FALSE);
	fixture_add(&f, "On", "Any", "", TRUE);
	g_assert_cmpint(match_pick(&f.run, &error), ==, 1);
	g_assert_cmpstr(f.run.conf->name, ==, "On");
	assert_contains(f.run.explain->str, "config \"Off\": skipped: inactive\n");
	fixture_clear(&f);
}

static void
test_none(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, "jan@example.com", "s", "b", NULL);
	fixture_add(&f, "A", "Recipient", "storing@service.example", TRUE);
	fixture_add(&f, "B", "Any", "", FALSE);
	g_assert_cmpint(match_pick(&f.run, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_null(f.run.conf);
	assert_contains(f.run.explain->str, "no envelope recipient");
	assert_contains(f.run.explain->str,
	                "no mail configuration accepts this message");
	fixture_clear(&f);
}

static void
test_regex_limit_is_error(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, "jan@example.com", "s",
	             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", NULL);
	fixture_add(&f, "Slow", "MessageRegex", "(a+)+$", TRUE);
	fixture_add(&f, "Fallback", "Any", "", TRUE);
	g_assert_cmpint(match_pick(&f.run, &error), ==, -1);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_REGEX_LIMIT);
	g_assert_true(g_str_has_prefix(error->message, "regex limit in "));
	assert_contains(error->message, "\"Slow\"");
	g_assert_null(f.run.conf);
	assert_contains(f.run.explain->str, "config \"Slow\" (MessageRegex: "
	                "the pattern matches the body text): error, regex limit");
	fixture_clear(&f);
}

static void
test_regex_compile_error(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, "jan@example.com", "s", "b", NULL);
	fixture_add(&f, "Broken", "TitleRegex", "(", TRUE);
	g_assert_cmpint(match_pick(&f.run, &error), ==, -1);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG);
	assert_contains(error->message, "\"Broken\"");
	assert_contains(error->message, "at offset 1");
	fixture_clear(&f);
}

static void
test_regex_compiled_once(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;
	m2wo_mailconf_t *conf;
	pcre2_code *first;

	fixture_init(&f, "jan@example.com", "Ticket #1234", "b", NULL);
	fixture_add(&f, "T", "TitleRegex", "#(\\d+)", TRUE);
	conf = f.config.mailconfs->pdata[0];
	g_assert_cmpint(match_pick(&f.run, &error), ==, 1);
	first = conf->sender_code;
	g_assert_nonnull(first);
	g_assert_cmpint(match_pick(&f.run, &error), ==, 1);
	g_assert_true(conf->sender_code == first);
	assert_contains(f.run.explain->str, "the pattern matches the subject "
	                "(\"1234\")");
	fixture_clear(&f);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (gsize i = 0; i < G_N_ELEMENTS(match_cases); i++) {
		g_autofree char *path = g_strconcat("/match/matcher/",
		                                    match_cases[i].name, NULL);

		g_test_add_data_func(path, &match_cases[i], test_matcher);
	}
	g_test_add_func("/match/lookup", test_lookup);
	g_test_add_func("/match/pick/explain-words", test_explain_words);
	g_test_add_func("/match/pick/first-match-wins", test_first_match_wins);
	g_test_add_func("/match/pick/inactive-skipped", test_inactive_skipped);
	g_test_add_func("/match/pick/none", test_none);
	g_test_add_func("/match/pick/regex-limit-is-error",
	                test_regex_limit_is_error);
	g_test_add_func("/match/pick/regex-compile-error",
	                test_regex_compile_error);
	g_test_add_func("/match/pick/regex-compiled-once",
	                test_regex_compiled_once);
	return g_test_run();
}
