/*
 * test-config.c: config_load and the token checks. Every bad file must give
 * exactly the one expected "FILE:LINE: problem"; good files must load into
 * the values SPEC 3 promises (inheritance, lists, raw regexes, escapes).
 */
#include "m2wo.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* Lines 1-3 of most test files. */
#define BASE "[m2wo]\ntoken_file = token\nsoftware_token_file = stoken\n"

static char *tmp_dir;

static char *write_file(const char *name, const char *text, int mode)
{
	char *path = g_build_filename(tmp_dir, name, NULL);
	g_autoptr(GError) error = NULL;

	g_unlink(path);
	if (!g_file_set_contents(path, text, -1, &error))
		g_error("cannot write %s: %s", path, error->message);
	if (chmod(path, mode) < 0)
		g_error("chmod %s: %s", path, g_strerror(errno));
	return path;
}

static char *write_config(const char *text)
{
	return write_file("m2wo.conf", text, 0644);
}

static void setup_dir(void)
{
	g_autoptr(GError) error = NULL;

	tmp_dir = g_dir_make_tmp("test-config-XXXXXX", &error);
	g_assert_no_error(error);
	g_free(write_file("token", "test-token-not-real\n", 0600));
	g_free(write_file("stoken", "  test-software-token-not-real  \n", 0600));
	g_free(write_file("open", "test-token-not-real\n", 0644));
	g_free(write_file("empty", "", 0600));
}

static void cleanup_dir(void)
{
	static const char *const names[] = {
		"token", "stoken", "open", "m2wo.conf", "empty", "big", "two", NULL,
	};

	for (int i = 0; names[i] != NULL; i++) {
		g_autofree char *path = g_build_filename(tmp_dir, names[i], NULL);
		g_unlink(path);
	}
	g_rmdir(tmp_dir);
	g_free(tmp_dir);
}

static char *join_problems(GPtrArray *problems)
{
	GString *all = g_string_new(NULL);

	for (guint i = 0; i < problems->len; i++)
		g_string_append_printf(all, "\n    %s",
		                       (char *)g_ptr_array_index(problems, i));
	return g_string_free(all, FALSE);
}

/* ------------------------------------------------------------ bad files */

typedef struct {
	const char *name;
	const char *text;
	gboolean tokens;     /* the problem comes from config_check_tokens */
	const char *want;    /* glob for what follows "FILE" in the problem */
} bad_case_t;

static const bad_case_t bad_cases[] = {
	{ "regex rule named like a built-in parameter",
	  BASE "[config A]\nsender_type = Any\nregex.message_key = (\\d+)\n",
	  FALSE, ":6: regex.message_key: {message_key} is a built-in parameter; "
	  "name the rule otherwise" },
	{ "unknown group",
	  BASE "[config A]\nsender_type = Any\n[bogus]\nx = 1\n",
	  FALSE, ":6: unknown group [bogus]" },
	{ "unknown key in [m2wo]",
	  BASE "colour = blue\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: unknown key colour in [m2wo]" },
	{ "unknown key in a configuration",
	  BASE "[config A]\nsender_type = Any\nsendr_value = x\n",
	  FALSE, ":6: unknown key sendr_value in [config A]" },
	{ "unknown key in [defaults]",
	  BASE "[defaults]\napi_url = https://x.example\n"
	  "[config A]\nsender_type = Any\n",
	  FALSE, ":5: unknown key api_url in [defaults]" },
	{ "bad boolean",
	  BASE "[config A]\nsender_type = Any\nactive = yes\n",
	  FALSE, ":6: active: not a boolean (true or false): yes" },
	{ "bad boolean in [defaults]",
	  BASE "[defaults]\ncreate_relation = maybe\n"
	  "[config A]\nsender_type = Any\n[config B]\nsender_type = Any\n",
	  FALSE, ":5: create_relation: not a boolean (true or false): maybe" },
	{ "number zero",
	  BASE "request_timeout = 0\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: request_timeout: not a whole number from 1 to 3600: 0" },
	{ "number with text",
	  BASE "deadline = 5 minutes\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: deadline: not a whole number from 1 to 86400: 5 minutes" },
	{ "negative number",
	  BASE "daily_limit = -1\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: daily_limit: not a whole number from 0 to 10000000: -1" },
	{ "unknown sender_type",
	  BASE "[config A]\nsender_type = Sendr\nsender_value = a@b.example\n",
	  FALSE, ":5: sender_type: unknown type Sendr" },
	{ "sender_type missing",
	  BASE "\n[config A]\ndescription = none\n",
	  FALSE, ":5: [config A]: sender_type missing" },
	{ "sender_value missing",
	  BASE "[config A]\nsender_type = Sender\n",
	  FALSE, ":4: [config A]: sender_value missing (sender_type Sender "
	  "needs one)" },
	{ "sender_value empty list",
	  BASE "[config A]\nsender_type = Sender\nsender_value = ; ;\n",
	  FALSE, ":6: sender_value: empty" },
	{ "unknown customer rule",
	  BASE "[config A]\nsender_type = Any\n"
	  "customer_rules = FindOrAddRelationByEmail; FindByMagic\n",
	  FALSE, ":6: customer_rules: unknown rule FindByMagic" },
	{ "unknown forced field",
	  BASE "[config A]\nsender_type = Any\nforced.Colour = red\n",
	  FALSE, ":6: forced.Colour: unknown work-order field Colour" },
	{ "unknown parameter",
	  BASE "[config A]\nsender_type = Any\n"
	  "forced.WorkDescription = {subjekt}\n",
	  FALSE, ":6: forced.WorkDescription: unknown parameter {subjekt}" },
	{ "unknown parameter in workorder_no",
	  BASE "workorder_no = M2WO-{mesage_key}\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: workorder_no: unknown parameter {mesage_key}" },
	{ "unknown parameter in forced_debtor_number",
	  BASE "[config A]\nsender_type = Any\nforced_debtor_number = {debtor}\n",
	  FALSE, ":6: forced_debtor_number: unknown parameter {debtor}" },
	{ "inherited template fails in one configuration only",
	  BASE "[defaults]\nforced.Comment = {ticket}\n"
	  "[config A]\nsender_type = Any\nregex.ticket = T(\\d+)\n"
	  "[config B]\nsender_type = Any\n",
	  FALSE, ":5: forced.Comment: unknown parameter {ticket} in [config B]" },
	{ "template syntax",
	  BASE "[config A]\nsender_type = Any\nforced.Comment = a } b\n",
	  FALSE, ":6: forced.Comment: lone } at offset 2*" },
	{ "regex that does not compile",
	  BASE "[config A]\nsender_type = Any\nregex.zip = ([0-9]{4}\n",
	  FALSE, ":6: regex.zip: *missing closing parenthesis*offset*9" },
	{ "sender regex that does not compile",
	  BASE "[config A]\nsender_type = SenderRegex\nsender_value = a(?<x\n",
	  FALSE, ":6: sender_value: *offset*" },
	{ "bad regex rule name",
	  BASE "[config A]\nsender_type = Any\nregex.zip-code = \\d+\n",
	  FALSE, ":6: regex.zip-code: the name after regex. may hold only "
	  "letters, digits and _" },
	{ "same rule name twice",
	  BASE "[config A]\nsender_type = Any\nregex.zip = \\d+\n"
	  "subject_regex.zip = \\d+\n",
	  FALSE, ":7: subject_regex.zip: a rule named zip is already defined "
	  "in [config A]" },
	{ "http URL",
	  BASE "api_url = http://app.out-smart.com/openapi/8\n"
	  "[config A]\nsender_type = Any\n",
	  FALSE, ":4: api_url: must be an https:// URL" },
	{ "URL with a query",
	  BASE "api_url = https://app.out-smart.com/openapi/8?x=1\n"
	  "[config A]\nsender_type = Any\n",
	  FALSE, ":4: api_url: must not hold a query, a fragment or blanks" },
	{ "token_file missing",
	  "[m2wo]\nsoftware_token_file = stoken\n[config A]\nsender_type = Any\n",
	  FALSE, ":1: [m2wo]: token_file missing" },
	{ "token file that does not exist",
	  "[m2wo]\ntoken_file = nothere\nsoftware_token_file = stoken\n"
	  "[config A]\nsender_type = Any\n",
	  TRUE, ":2: token_file */nothere: cannot read: *" },
	{ "token file readable by others",
	  "[m2wo]\ntoken_file = token\nsoftware_token_file = open\n"
	  "[config A]\nsender_type = Any\n",
	  TRUE, ":3: software_token_file */open: readable by others (chmod 600)" },
	{ "token file that is a folder",
	  "[m2wo]\ntoken_file = token\nsoftware_token_file = stoken\n"
	  "bearer_token_file = .\n[config A]\nsender_type = Any\n",
	  TRUE, ":4: bearer_token_file /*: not a regular file" },
	{ "empty token file",
	  "[m2wo]\ntoken_file = empty\nsoftware_token_file = stoken\n"
	  "[config A]\nsender_type = Any\n",
	  TRUE, ":2: token_file */empty: empty" },
	{ "quarantine policy without quarantine_dir",
	  BASE "on_reject = quarantine\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: on_reject = quarantine needs quarantine_dir" },
	{ "policy not allowed for the key",
	  BASE "on_autoreply = bounce\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: on_autoreply: bounce is not one of discard, quarantine, "
	  "process" },
	{ "unknown dedupe",
	  BASE "dedupe = maybe\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: dedupe: maybe is not one of api, off" },
	{ "unknown syslog facility",
	  BASE "syslog_facility = kern\n[config A]\nsender_type = Any\n",
	  FALSE, ":4: syslog_facility: kern is not one of mail, daemon, user, "
	  "local0, local1, local2, local3, local4, local5, local6, local7" },
	{ "bad escape in a string",
	  BASE "[config A]\nsender_type = Any\nforced.Comment = C:\\data\n",
	  FALSE, ":6: forced.Comment: invalid escape sequence*" },
	{ "bad escape in a list",
	  BASE "[config A]\nsender_type = Sender\nsender_value = a\\x@b.example\n",
	  FALSE, ":6: sender_value: invalid escape sequence*" },
	{ "duplicate configuration",
	  BASE "[config A]\nsender_type = Any\n\n[config A]\nactive = false\n",
	  FALSE, ":7: duplicate group [config A] (first at line 4)" },
	{ "configuration without a name",
	  BASE "[config]\nsender_type = Any\n",
	  FALSE, ":4: [config]: the configuration needs a name" },
	{ "not a key file line",
	  BASE "[config A]\nsender_type = Any\nthis is no key\n",
	  FALSE, ":6: not a [group], key = value or # comment line" },
	{ "key before any group",
	  "token_file = token\n" BASE "[config A]\nsender_type = Any\n",
	  FALSE, ":1: key token_file outside of any group" },
	{ "invalid group name",
	  BASE "[config [A]\nsender_type = Any\n",
	  FALSE, ":4: invalid group name [config [A]" },
	{ "key with a locale",
	  BASE "[config A]\nsender_type = Any\ndescription[nl] = Storing\n",
	  FALSE, ":6: unknown key description[nl] in [config A]" },
};

static void check_one_problem(const bad_case_t *c, const char *path,
                              GPtrArray *problems)
{
	g_autofree char *want = g_strconcat(path, c->want, NULL);
	g_autofree char *got = join_problems(problems);

	if (problems->len != 1
	    || !g_pattern_match_simple(want, g_ptr_array_index(problems, 0)))
		g_test_fail_printf("%s: got%s\n  want one problem:\n    %s",
		                   c->name, problems->len ? got : " none", want);
}

static void test_bad_files(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
		const bad_case_t *c = &bad_cases[i];
		g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
		g_autofree char *path = write_config(c->text);
		g_autoptr(m2wo_config_t) config = config_load(path, TRUE, problems);

		if (c->tokens && config == NULL) {
			g_autofree char *got = join_problems(problems);
			g_test_fail_printf("%s: load failed:%s", c->name, got);
			continue;
		}
		if (c->tokens)
			config_check_tokens(config, problems);
		else if (config != NULL)
			g_test_fail_printf("%s: config_load returned a configuration "
			                   "despite its problems", c->name);
		check_one_problem(c, path, problems);
	}
}

/* A file without [m2wo] misses both token keys, and says so without a
 * line number. */
static void test_no_main_group(void)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *path = write_config("[config A]\nsender_type = Any\n");
	g_autoptr(m2wo_config_t) config = config_load(path, FALSE, problems);
	g_autofree char *want1 = g_strconcat(path, ": [m2wo]: token_file missing",
	                                     NULL);
	g_autofree char *want2 = g_strconcat(path,
	        ": [m2wo]: software_token_file missing", NULL);
	g_autofree char *got = join_problems(problems);

	g_assert_null(config);
	if (problems->len != 2
	    || g_strcmp0(g_ptr_array_index(problems, 0), want1) != 0
	    || g_strcmp0(g_ptr_array_index(problems, 1), want2) != 0)
		g_test_fail_printf("got%s\nwant\n    %s\n    %s", got, want1, want2);
}

static void test_unreadable_file(void)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *path = g_build_filename(tmp_dir, "absent.conf", NULL);
	g_autoptr(m2wo_config_t) config = config_load(path, FALSE, problems);
	g_autofree char *want = g_strconcat(path,
	        ": cannot read: No such file or directory", NULL);

	g_assert_null(config);
	g_assert_cmpuint(problems->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(problems, 0), ==, want);
}

/* Several problems in one file are all reported, each with its line, in
 * the order of the file whatever the order they were found in. */
static void test_many_problems(void)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *path = write_config(BASE "deadline = 0\n"
	        "[config A]\nsender_type = Bogus\nforced.Comment = {x}\n"
	        "regex.r = (\n[config B]\nsender_type = Any\nactive = perhaps\n");
	g_autoptr(m2wo_config_t) config = config_load(path, TRUE, problems);
	g_autofree char *got = join_problems(problems);
	static const char *const want[] = {
		":4: deadline: *", ":6: sender_type: *", ":7: forced.Comment: *",
		":8: regex.r: *", ":11: active: *",
	};

	g_assert_null(config);
	if (problems->len != G_N_ELEMENTS(want))
		g_test_fail_printf("got%s\nwant %u problems", got,
		                   (guint)G_N_ELEMENTS(want));
	for (guint i = 0; i < problems->len && i < G_N_ELEMENTS(want); i++) {
		g_autofree char *pattern = g_strconcat(path, want[i], NULL);

		if (!g_pattern_match_simple(pattern, g_ptr_array_index(problems, i)))
			g_test_fail_printf("problem %u: got%s\nwant %s", i, got,
			                   pattern);
	}
}

/* ----------------------------------------------------------- good files */

static m2wo_config_t *load_good(const char *text, gboolean compile_all)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *path = write_config(text);
	m2wo_config_t *config = config_load(path, compile_all, problems);
	g_autofree char *got = join_problems(problems);

	if (config == NULL || problems->len != 0)
		g_error("good file refused:%s", got);
	if (!config_check_tokens(config, problems)) {
		g_autofree char *tokens = join_problems(problems);
		g_error("token files refused:%s", tokens);
	}
	return config;
}

static m2wo_mailconf_t *conf_at(m2wo_config_t *config, guint i)
{
	g_assert_cmpuint(i, <, config->mailconfs->len);
	return g_ptr_array_index(config->mailconfs, i);
}

static const char *forced_value(m2wo_mailconf_t *conf, const char *field)
{
	for (guint i = 0; i < conf->forced->len; i++) {
		m2wo_forced_t *f = g_ptr_array_index(conf->forced, i);

		if (strcmp(f->field, field) == 0)
			return f->template;
	}
	return NULL;
}

static m2wo_regex_rule_t *rule_named(m2wo_mailconf_t *conf, const char *name)
{
	for (guint i = 0; i < conf->regex_rules->len; i++) {
		m2wo_regex_rule_t *r = g_ptr_array_index(conf->regex_rules, i);

		if (strcmp(r->name, name) == 0)
			return r;
	}
	return NULL;
}

static void test_defaults(void)
{
	g_autoptr(m2wo_config_t) c = load_good(BASE "[config A]\n"
	        "sender_type = Any\n", FALSE);
	g_autofree char *token = g_build_filename(tmp_dir, "token", NULL);
	m2wo_mailconf_t *a = conf_at(c, 0);

	g_assert_cmpstr(c->api_url, ==, M2WO_DEF_API_URL);
	g_assert_cmpstr(c->token_file, ==, token);
	g_assert_cmpint(c->request_timeout, ==, M2WO_DEF_REQUEST_TIMEOUT);
	g_assert_cmpint(c->deadline, ==, M2WO_DEF_DEADLINE);
	g_assert_cmpuint(c->max_message_size, ==, M2WO_DEF_MAX_MESSAGE_SIZE);
	g_assert_cmpstr(c->workorder_no, ==, M2WO_DEF_WORKORDER_NO);
	g_assert_cmpint(c->dedupe, ==, M2WO_DEDUPE_API);
	g_assert_cmpint(c->on_unmatched, ==, M2WO_POLICY_BOUNCE);
	g_assert_cmpint(c->on_autoreply, ==, M2WO_POLICY_DISCARD);
	g_assert_cmpint(c->on_reject, ==, M2WO_POLICY_BOUNCE);
	g_assert_null(c->quarantine_dir);
	g_assert_null(c->bearer_token_file);
	g_assert_null(c->audit_file);
	g_assert_cmpuint(c->daily_limit, ==, 0);
	g_assert_true(g_str_has_suffix(c->state_dir, "/lib/m2wo"));
	g_assert_cmpint(c->syslog_facility, ==, LOG_MAIL);
	g_assert_cmpint(c->token_file_line, ==, 2);
	g_assert_cmpstr(a->name, ==, "A");
	g_assert_cmpint(a->line, ==, 4);
	g_assert_true(a->active);
	g_assert_false(a->create_relation);
	g_assert_false(a->parse_attachments);
	g_assert_false(a->attach_original);
	g_assert_cmpstr(a->matcher->name, ==, "Any");
	g_assert_nonnull(a->sender_values);
	g_assert_cmpuint(a->customer_rules->len, ==, 0);
}

static void test_main_values(void)
{
	g_autoptr(m2wo_config_t) c = load_good(BASE
	        "api_url = https://127.0.0.1:8443/openapi/8\n"
	        "request_timeout = 10\ndeadline = 120\nmax_message_size = 1000\n"
	        "workorder_no = WO-{message_key}\ndedupe = off\n"
	        "on_unmatched = quarantine\non_autoreply = process\n"
	        "on_reject = quarantine\nquarantine_dir = /var/spool/m2wo/q\n"
	        "daily_limit = 50\nstate_dir = state\nsyslog_facility = local3\n"
	        "audit_file = /var/log/m2wo.json\n"
	        "[config A]\nsender_type = Any\n", FALSE);
	g_autofree char *state = g_build_filename(tmp_dir, "state", NULL);

	g_assert_cmpstr(c->api_url, ==, "https://127.0.0.1:8443/openapi/8");
	g_assert_cmpint(c->request_timeout, ==, 10);
	g_assert_cmpint(c->deadline, ==, 120);
	g_assert_cmpuint(c->max_message_size, ==, 1000);
	g_assert_cmpstr(c->workorder_no, ==, "WO-{message_key}");
	g_assert_cmpint(c->dedupe, ==, M2WO_DEDUPE_OFF);
	g_assert_cmpint(c->on_unmatched, ==, M2WO_POLICY_QUARANTINE);
	g_assert_cmpint(c->on_autoreply, ==, M2WO_POLICY_PROCESS);
	g_assert_cmpint(c->on_reject, ==, M2WO_POLICY_QUARANTINE);
	g_assert_cmpstr(c->quarantine_dir, ==, "/var/spool/m2wo/q");
	g_assert_cmpuint(c->daily_limit, ==, 50);
	g_assert_cmpstr(c->state_dir, ==, state);
	g_assert_cmpint(c->syslog_facility, ==, LOG_LOCAL3);
	g_assert_cmpstr(c->audit_file, ==, "/var/log/m2wo.json");
	g_assert_cmpstr(policy_to_string(c->on_autoreply), ==, "process");
	g_assert_cmpstr(policy_to_string(M2WO_POLICY_BOUNCE), ==, "bounce");
}

static void test_inheritance(void)
{
	g_autoptr(m2wo_config_t) c = load_good(BASE
	        "[defaults]\nsender_type = Sender\nsender_value = a@x.example\n"
	        "active = false\ncustomer_rules = FindOrAddRelationByEmail\n"
	        "forced.TypeOfWork = Storing\nforced.PaymentMethod = op rekening\n"
	        "regex.zip = \\d{4}\nsubject_regex.ref = REF(\\d+)\n"
	        "create_relation = true\n"
	        "[config A]\n"
	        "[config B]\nsender_type = Any\nactive = true\n"
	        "forced.TypeOfWork = Service\nsubject_regex.zip = Z(\\d+)\n"
	        "customer_rules = SearchObject\ncreate_relation = false\n", FALSE);
	m2wo_mailconf_t *a = conf_at(c, 0), *b = conf_at(c, 1);

	g_assert_cmpstr(a->matcher->name, ==, "Sender");
	g_assert_cmpstr(a->sender_values[0], ==, "a@x.example");
	g_assert_null(a->sender_values[1]);
	g_assert_false(a->active);
	g_assert_true(a->create_relation);
	g_assert_cmpuint(a->customer_rules->len, ==, 1);
	g_assert_cmpstr(((m2wo_customer_rule_t *)g_ptr_array_index(
	        a->customer_rules, 0))->name, ==, "FindOrAddRelationByEmail");
	g_assert_cmpstr(forced_value(a, "TypeOfWork"), ==, "Storing");
	g_assert_cmpstr(forced_value(a, "PaymentMethod"), ==, "op rekening");
	g_assert_cmpuint(a->regex_rules->len, ==, 2);
	g_assert_false(rule_named(a, "zip")->subject);
	g_assert_true(rule_named(a, "ref")->subject);

	/* The configuration's own keys win, one by one. */
	g_assert_cmpstr(b->matcher->name, ==, "Any");
	g_assert_true(b->active);
	g_assert_false(b->create_relation);
	g_assert_cmpstr(forced_value(b, "TypeOfWork"), ==, "Service");
	g_assert_cmpstr(forced_value(b, "PaymentMethod"), ==, "op rekening");
	g_assert_cmpuint(b->forced->len, ==, 2);
	g_assert_cmpuint(b->customer_rules->len, ==, 1);
	g_assert_cmpstr(((m2wo_customer_rule_t *)g_ptr_array_index(
	        b->customer_rules, 0))->name, ==, "SearchObject");
	g_assert_cmpuint(b->regex_rules->len, ==, 2);
	g_assert_true(rule_named(b, "zip")->subject);
	g_assert_cmpstr(rule_named(b, "zip")->pattern, ==, "Z(\\d+)");
	g_assert_cmpint(rule_named(b, "zip")->line, ==, 19);
	g_assert_cmpint(rule_named(b, "ref")->line, ==, 12);
}

static void test_lists(void)
{
	g_autoptr(m2wo_config_t) c = load_good(BASE "[config A]\n"
	        "sender_type = SenderDomain\n"
	        "sender_value =  a.example ; ;*.b.example;semi\\;colon;\n"
	        "customer_rules = FindOrAddRelationByPhone ;FindOrAddAddress;\n",
	        FALSE);
	m2wo_mailconf_t *a = conf_at(c, 0);
	const char *const want[] = { "a.example", "*.b.example", "semi;colon",
	                             NULL };

	for (int i = 0; want[i] != NULL; i++)
		g_assert_cmpstr(a->sender_values[i], ==, want[i]);
	g_assert_null(a->sender_values[3]);
	g_assert_cmpuint(a->customer_rules->len, ==, 2);
	g_assert_cmpstr(((m2wo_customer_rule_t *)g_ptr_array_index(
	        a->customer_rules, 1))->name, ==, "FindOrAddAddress");
}

static void test_raw_regex(void)
{
	g_autoptr(m2wo_config_t) c = load_good(BASE "[config A]\n"
	        "sender_type = SenderRegex\n"
	        "sender_value = ^[^@]+@(a|b)\\.example$\n"
	        "regex.zip = (?<value>\\d{4}\\s?[A-Z]{2})\n"
	        "subject_regex.ticket = \\[#(\\d+)\\]\n", TRUE);
	m2wo_mailconf_t *a = conf_at(c, 0);

	g_assert_cmpstr(a->sender_values[0], ==, "^[^@]+@(a|b)\\.example$");
	g_assert_null(a->sender_values[1]);
	g_assert_nonnull(a->sender_code);
	g_assert_cmpstr(rule_named(a, "zip")->pattern, ==,
	                "(?<value>\\d{4}\\s?[A-Z]{2})");
	g_assert_cmpstr(rule_named(a, "ticket")->pattern, ==, "\\[#(\\d+)\\]");
	g_assert_nonnull(rule_named(a, "zip")->code);
	g_assert_nonnull(rule_named(a, "ticket")->code);
}

/* Without compile_all, patterns wait for their first use. */
static void test_lazy_compile(void)
{
	g_autoptr(m2wo_config_t) c = load_good(BASE "[config A]\n"
	        "sender_type = TitleRegex\nsender_value = ^Storing\n"
	        "regex.zip = \\d{4}\n", FALSE);
	m2wo_mailconf_t *a = conf_at(c, 0);

	g_assert_null(a->sender_code);
	g_assert_null(rule_named(a, "zip")->code);
}

static void test_escapes(void)
{
	g_autoptr(m2wo_config_t) c = load_good(BASE "[config A]\n"
	        "sender_type = Any\n"
	        "description = Storing\\sACME\n"
	        "forced.WorkDescription = {subject}\\n\\nVan: {sender_address}\n"
	        "forced.Comment = C:\\\\temp\n"
	        "forced.ShortWorkDescription = {{zip}} {zip}\n"
	        "regex.zip = \\d{4}\n", FALSE);
	m2wo_mailconf_t *a = conf_at(c, 0);

	g_assert_cmpstr(a->description, ==, "Storing ACME");
	g_assert_cmpstr(forced_value(a, "WorkDescription"), ==,
	                "{subject}\n\nVan: {sender_address}");
	g_assert_cmpstr(forced_value(a, "Comment"), ==, "C:\\temp");
	g_assert_cmpstr(forced_value(a, "ShortWorkDescription"), ==,
	                "{{zip}} {zip}");
}

static void test_file_order(void)
{
	g_autoptr(m2wo_config_t) c = load_good(BASE
	        "[config Zeta]\nsender_type = Any\n"
	        "# a comment\n[config Alpha]\nsender_type = Any\n"
	        "[defaults]\ndescription = shared\n"
	        "[config Storing ACME]\nsender_type = Any\n", FALSE);
	const char *const want[] = { "Zeta", "Alpha", "Storing ACME" };

	g_assert_cmpuint(c->mailconfs->len, ==, G_N_ELEMENTS(want));
	for (guint i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpstr(conf_at(c, i)->name, ==, want[i]);
	g_assert_cmpint(conf_at(c, 2)->line, ==, 11);
	g_assert_cmpstr(conf_at(c, 0)->description, ==, "shared");
}

/* ---------------------------------------------------------------- tokens */

static void test_read_token(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(tmp_dir, "stoken", NULL);
	g_autofree char *token = config_read_token(path, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(token, ==, "test-software-token-not-real");
}

typedef struct {
	const char *name;
	const char *content;
	int mode;
	const char *why;
} token_case_t;

static const token_case_t token_cases[] = {
	{ "open", "test-token-not-real", 0644, "readable by others (chmod 600)" },
	{ "open", "test-token-not-real", 0640, "readable by others (chmod 600)" },
	{ "empty", " \n\t\n", 0600, "empty" },
	{ "two", "test-token-not-real\nsecond-line-not-real\n", 0600,
	  "holds more than one word or line" },
	{ "absent", NULL, 0, "cannot read: No such file or directory" },
};

static void test_bad_tokens(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(token_cases); i++) {
		const token_case_t *c = &token_cases[i];
		g_autoptr(GError) error = NULL;
		g_autofree char *path = c->content != NULL
			? write_file(c->name, c->content, c->mode)
			: g_build_filename(tmp_dir, c->name, NULL);
		g_autofree char *token = config_read_token(path, &error);
		g_autofree char *want = g_strdup_printf("token file %s: %s", path,
		                                        c->why);

		g_assert_null(token);
		g_assert_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG);
		g_assert_cmpstr(error->message, ==, want);
		/* The message names the file, never its content. */
		g_assert_null(strstr(error->message, "not-real"));
	}
}

static void test_big_token(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *big = g_strnfill(M2WO_MAX_TOKEN_SIZE + 1, 'x');
	g_autofree char *path = write_file("big", big, 0600);
	g_autofree char *token = config_read_token(path, &error);

	g_assert_null(token);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG);
	g_assert_null(strstr(error->message, "xxxx"));
}

int main(int argc, char **argv)
{
	int status;

	g_test_init(&argc, &argv, NULL);
	setup_dir();
	g_test_add_func("/config/bad-files", test_bad_files);
	g_test_add_func("/config/no-main-group", test_no_main_group);
	g_test_add_func("/config/unreadable-file", test_unreadable_file);
	g_test_add_func("/config/many-problems", test_many_problems);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/main-values", test_main_values);
	g_test_add_func("/config/inheritance", test_inheritance);
	g_test_add_func("/config/lists", test_lists);
	g_test_add_func("/config/raw-regex", test_raw_regex);
	g_test_add_func("/config/lazy-compile", test_lazy_compile);
	g_test_add_func("/config/escapes", test_escapes);
	g_test_add_func("/config/file-order", test_file_order);
	g_test_add_func("/config/read-token", test_read_token);
	g_test_add_func("/config/bad-tokens", test_bad_tokens);
	g_test_add_func("/config/big-token", test_big_token);
	status = g_test_run();
	cleanup_dir();
	return status;
}
