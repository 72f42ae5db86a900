/*
 * test-limits: every limit of m2wo.h exactly at and one byte past its value,
 * through the library functions where the binary cannot reach the exact
 * edge: input size, header block, body text, one field, attachments, work
 * order JSON, and the time budget of a regex search. Also the regressions
 * of the configuration problems found by fuzzing.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m2wo.h"

/* ------------------------------------------------------------ helpers */

static char *tmp_dir;

static char *
write_file(const char *name, const char *data, gsize len, mode_t mode)
{
	char *path = g_build_filename(tmp_dir, name, NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, data, len), ==, (gssize)len);
	close(fd);
	chmod(path, mode);
	return path;
}

/* Headers of a text/plain message, a blank line and the body's start. */
static GString *
message(const char *lead)
{
	GString *raw = g_string_new("From: Jan <jan@example.com>\n"
	                            "Subject: limits\nMIME-Version: 1.0\n"
	                            "Content-Type: text/plain; charset=utf-8\n\n");

	g_string_append(raw, lead);
	return raw;
}

static m2wo_msg_t *
parse(const GString *raw, GError **error)
{
	g_autoptr(GBytes) bytes = g_bytes_new(raw->str, raw->len);

	return msg_parse(bytes, error);
}

/* ------------------------------------------------------------ input */

typedef struct {
	const char *name;
	gssize extra;            /* bytes over (or under) max */
	gboolean ok;
} size_case_t;

static const size_case_t size_cases[] = {
	{ "one-under", -1, TRUE },
	{ "at-limit", 0, TRUE },
	{ "one-over", 1, FALSE },
};

/* Both ways in: a descriptor that must be read and a file whose size
 * fstat() tells, at the default max_message_size. */
static void
test_input_size(gconstpointer data)
{
	const size_case_t *c = data;
	gsize len = M2WO_DEF_MAX_MESSAGE_SIZE + c->extra;
	g_autofree char *big = g_malloc(len);
	g_autofree char *path = NULL;

	memset(big, 'm', len);
	path = write_file("input", big, len, 0600);
	for (int way = 0; way < 2; way++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) got = NULL;

		if (way == 0) {
			int fd = open(path, O_RDONLY);

			got = input_read_fd(fd, M2WO_DEF_MAX_MESSAGE_SIZE, 0, &error);
			close(fd);
		} else {
			got = input_read_file(path, M2WO_DEF_MAX_MESSAGE_SIZE, &error);
		}
		if (c->ok) {
			g_assert_no_error(error);
			g_assert_cmpuint(g_bytes_get_size(got), ==, len);
		} else {
			g_assert_null(got);
			g_assert_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE);
		}
	}
}

/* ------------------------------------------------------------ header */

/* A header block of exactly size bytes (every header line with its line
 * end), in front of a blank line and a body; prefix comes first. */
static GString *
header_block(const char *prefix, const char *eol, gsize size)
{
	GString *raw = g_string_new(prefix);
	gsize start = raw->len;

	gsize e = strlen(eol);

	g_string_append_printf(raw, "From: a@example.com%s", eol);
	/* Fill lines while one still leaves room for "X-Last: " and eol. */
	while (raw->len - start + (38 + e) + (8 + e) <= size)
		g_string_append_printf(raw, "X-Fill: %030d%s", 0, eol);
	g_string_append(raw, "X-Last: ");
	while (raw->len - start + e < size)
		g_string_append_c(raw, 'l');
	g_string_append(raw, eol);
	g_assert_cmpuint(raw->len - start, ==, size);
	g_string_append_printf(raw, "%sbody%s", eol, eol);
	return raw;
}

typedef struct {
	const char *name;
	const char *prefix;
	const char *eol;
	gssize extra;
	gboolean ok;
} header_case_t;

static const header_case_t header_cases[] = {
	{ "lf/at-limit", "", "\n", 0, TRUE },
	{ "lf/one-over", "", "\n", 1, FALSE },
	{ "crlf/at-limit", "", "\r\n", 0, TRUE },
	{ "crlf/one-over", "", "\r\n", 1, FALSE },
	/* The mbox line local(8) puts in front is no header. */
	{ "mbox/at-limit", "From jan@example.com Mon Jan  1 00:00:00 2024\n",
	  "\n", 0, TRUE },
	{ "mbox/one-over", "From jan@example.com Mon Jan  1 00:00:00 2024\n",
	  "\n", 1, FALSE },
};

static void
test_header_size(gconstpointer data)
{
	const header_case_t *c = data;
	g_autoptr(GString) raw = header_block(c->prefix, c->eol,
	                                      M2WO_MAX_HEADER_SIZE + c->extra);
	g_autoptr(GError) error = NULL;
	g_autoptr(m2wo_msg_t) msg = parse(raw, &error);

	if (c->ok) {
		g_assert_no_error(error);
		g_assert_cmpstr(msg->body, ==, "body");
	} else {
		g_assert_null(msg);
		g_assert_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE);
	}
}

/* ------------------------------------------------------------ body text */

/* Text of lead and then as many fill characters as make it just max
 * bytes (over FALSE; fill is one byte then) or just past max (over TRUE:
 * the character that crosses max is the last one). Sets the length a cut
 * at a character boundary leaves. */
typedef struct {
	const char *name;
	const char *lead;
	const char *fill;
	gboolean over;
} cut_case_t;

static const cut_case_t cut_cases[] = {
	{ "at-limit", "", "a", FALSE },
	{ "one-over", "", "a", TRUE },
	/* The limit falls inside a character: the cut goes before it. */
	{ "two-byte-boundary", "x", "\xC3\xA9", TRUE },
	{ "three-byte-boundary", "xy", "\xE2\x82\xAC", TRUE },
	{ "four-byte-boundary", "xyz", "\xF0\x9F\x98\x80", TRUE },
};

static GString *
cut_text(const cut_case_t *c, gsize max, gsize *want_len)
{
	gsize lead = strlen(c->lead), fill = strlen(c->fill);
	gsize whole = (max - lead) / fill;
	GString *text = g_string_new(c->lead);

	g_assert_true(fill == 1 || (max - lead) % fill != 0);
	for (gsize i = 0; i < whole + (c->over ? 1 : 0); i++)
		g_string_append_len(text, c->fill, fill);
	g_assert_cmpuint(text->len, ==, c->over ? lead + fill * (whole + 1)
	                                        : max);
	*want_len = lead + fill * whole;
	return text;
}

static void
test_text_size(gconstpointer data)
{
	const cut_case_t *c = data;
	gsize want_len;
	g_autoptr(GString) body = cut_text(c, M2WO_MAX_TEXT_SIZE, &want_len);
	g_autoptr(GString) raw = message(body->str);
	g_autoptr(m2wo_msg_t) msg = NULL;
	g_autoptr(GError) error = NULL;

	msg = parse(raw, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(strlen(msg->body), ==, want_len);
	g_assert_true(msg->body_truncated == c->over);
	g_assert_true(g_utf8_validate(msg->body, -1, NULL));
}

/* ------------------------------------------------------------ work order */

/* An offline run of conf (forced fields added with conf_force) with the
 * parameters the default workorder_no needs. */
static m2wo_run_t *
work_run(m2wo_config_t *config, m2wo_mailconf_t *conf)
{
	m2wo_run_t *run = run_new(config);

	run->conf = conf;
	run->offline = TRUE;
	run->params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                    g_free);
	g_hash_table_replace(run->params, g_strdup("message_key"),
	                     g_strdup("ABCDEFGHJKMN"));
	return run;
}

static void
conf_force(m2wo_mailconf_t *conf, const char *field, const char *tmpl)
{
	m2wo_forced_t *forced = g_new0(m2wo_forced_t, 1);

	forced->field = g_strdup(field);
	forced->template = g_strdup(tmpl);
	g_ptr_array_add(conf->forced, forced);
}

static void
forced_free(m2wo_forced_t *forced)
{
	g_free(forced->field);
	g_free(forced->template);
	g_free(forced);
}

static m2wo_mailconf_t *
conf_new(void)
{
	m2wo_mailconf_t *conf = g_new0(m2wo_mailconf_t, 1);

	conf->name = g_strdup("limits");
	conf->active = TRUE;
	conf->forced = g_ptr_array_new_with_free_func((GDestroyNotify)forced_free);
	return conf;
}

static void
conf_free(m2wo_mailconf_t *conf)
{
	g_ptr_array_unref(conf->forced);
	g_free(conf->name);
	g_free(conf);
}

static void
run_done(m2wo_run_t *run)
{
	run->conf = NULL;
	run->config = NULL;
	run_free(run);
}

static void
test_field_len(gconstpointer data)
{
	const cut_case_t *c = data;
	m2wo_config_t config = { .deadline = 300 };
	m2wo_mailconf_t *conf = conf_new();
	m2wo_run_t *run = work_run(&config, conf);
	g_autoptr(GError) error = NULL;
	gsize want_len;
	GString *value = cut_text(c, M2WO_MAX_FIELD_LEN, &want_len);
	json_object *got;

	g_hash_table_replace(run->params, g_strdup("v"),
	                     g_string_free(value, FALSE));
	conf_force(conf, "Comment", "{v}");
	conf_force(conf, "ShortWorkDescription", "{v}");
	g_assert_true(workorder_build(run, &error));
	g_assert_no_error(error);
	for (int i = 0; i < 2; i++) {
		got = json_object_object_get(run->workorder,
		                             i ? "ShortWorkDescription" : "Comment");
		g_assert_cmpuint(strlen(json_object_get_string(got)), ==, want_len);
		g_assert_true(g_utf8_validate(json_object_get_string(got), -1,
		                              NULL));
	}
	run_done(run);
	conf_free(conf);
}

/* Attachments: a part of n bytes against a cap of cap bytes. */
typedef struct {
	const char *name;
	gssize extra;            /* part size minus the cap */
	guint want_skipped;
} attach_case_t;

static const attach_case_t attach_cases[] = {
	{ "at-limit", 0, 0 },
	{ "one-over", 1, 1 },
};

static void
test_attach_total(gconstpointer data)
{
	const attach_case_t *c = data;
	gsize size = M2WO_MAX_ATTACH_TOTAL + c->extra;
	g_autoptr(GString) raw = g_string_new(
		"From: a@example.com\nMIME-Version: 1.0\n"
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
		"Content-Type: text/plain\n\nsee the attachments\n--b\n"
		"Content-Type: application/octet-stream\n"
		"Content-Disposition: attachment; filename=small.bin\n\nsmall\n"
		"--b\nContent-Type: application/octet-stream\n"
		"Content-Disposition: attachment; filename=big.bin\n"
		"Content-Transfer-Encoding: binary\n\n");
	g_autoptr(GPtrArray) atts = g_ptr_array_new_with_free_func(
		(GDestroyNotify)attachment_free);
	g_autoptr(m2wo_msg_t) msg = NULL;
	g_autoptr(GError) error = NULL;
	gsize start = raw->len;
	guint skipped;

	/* "small" (the line end before a boundary is the boundary's) counts
	 * against the cap too. */
	size -= 5;
	g_string_set_size(raw, start + size);
	memset(raw->str + start, 'B', size);
	g_string_append(raw, "\n--b--\n");
	msg = parse(raw, &error);
	g_assert_no_error(error);
	skipped = text_attachments(msg->mime, M2WO_MAX_ATTACH_TOTAL, atts);
	g_assert_cmpuint(skipped, ==, c->want_skipped);
	g_assert_cmpuint(atts->len, ==, 2 - c->want_skipped);
	if (c->want_skipped == 0) {
		m2wo_attachment_t *a = atts->pdata[0], *b = atts->pdata[1];

		g_assert_cmpuint(g_bytes_get_size(a->data) +
		                 g_bytes_get_size(b->data), ==,
		                 M2WO_MAX_ATTACH_TOTAL);
	}
}

/* The work order JSON at exactly M2WO_MAX_JSON_SIZE bytes, and one more.
 * The whole message (attach_original, base64: 4 bytes per 3) and fields
 * of control characters (6 bytes each in JSON) make it that large; one
 * field of plain letters sets the last bytes. */
#define JSON_FIELDS 38

static const char *const json_fields[JSON_FIELDS] = {
	"ProjectNr", "ExternProjectNr", "OrderNr", "CustomerName",
	"CustomerDebtorNr", "CustomerStreet", "CustomerStreetNo", "CustomerZIP",
	"CustomerCity", "CustomerEmail", "CustomerPhone", "CustomerRemark",
	"CustomerNameInvoice", "CustomerDebtorNrInvoice",
	"CustomerStreetInvoice", "CustomerStreetNoInvoice",
	"CustomerZIPInvoice", "CustomerCityInvoice", "CustomerEmailInvoice",
	"CustomerPhoneInvoice", "CustomerRemarkInvoice", "TypeOfWork",
	"PaymentMethod", "WorkDescription", "InternalWorkDescription",
	"ShortWorkDescription", "EmployeeNr", "WorkDate", "WorkTime",
	"WorkEndDate", "WorkEndTime", "WorkDeadline", "WorkStatus", "CpnCode",
	"ErrorCode", "ErrorMessage", "SolutionCode", "SolutionMessage",
};

typedef struct {
	m2wo_config_t config;
	m2wo_mailconf_t *conf;
	m2wo_run_t *run;
} json_fixture_t;

/* Builds with a message of raw_len bytes and a pad of pad bytes; returns
 * the JSON size, or 0 with error set. */
static gsize
json_build(json_fixture_t *f, gsize raw_len, gsize pad, GError **error)
{
	g_autofree char *raw = g_malloc(raw_len);
	size_t len = 0;

	memset(raw, 'r', raw_len);
	g_clear_pointer(&f->run->msg, msg_free);
	f->run->msg = g_new0(m2wo_msg_t, 1);
	f->run->msg->raw = g_bytes_new(raw, raw_len);
	g_hash_table_replace(f->run->params, g_strdup("pad"),
	                     g_strnfill(pad, 'p'));
	if (!workorder_build(f->run, error))
		return 0;
	json_object_to_json_string_length(f->run->workorder,
	                                  JSON_C_TO_STRING_PLAIN |
	                                  JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	return len;
}

static void
test_json_size(void)
{
	json_fixture_t f = { .config = { .deadline = 300 } };
	g_autoptr(GError) error = NULL;
	/* A multiple of 3: base64 then has no padding to change. */
	gsize raw_len = 18 * 1024 * 1024, pad = 1, size, deficit;

	f.conf = conf_new();
	f.conf->attach_original = TRUE;
	f.run = work_run(&f.config, f.conf);
	g_hash_table_replace(f.run->params, g_strdup("ctl"),
	                     g_strnfill(M2WO_MAX_FIELD_LEN, '\x01'));
	for (int i = 0; i < JSON_FIELDS; i++)
		conf_force(f.conf, json_fields[i], "{ctl}");
	conf_force(f.conf, "Comment", "{pad}");
	size = json_build(&f, raw_len, pad, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(size, <, M2WO_MAX_JSON_SIZE);
	/* Three more message bytes are four more base64 bytes. */
	deficit = M2WO_MAX_JSON_SIZE - size;
	raw_len += deficit / 4 * 3;
	pad += deficit % 4;
	g_assert_cmpuint(raw_len, <=, M2WO_MAX_ATTACH_TOTAL);
	size = json_build(&f, raw_len, pad, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(size, ==, M2WO_MAX_JSON_SIZE);
	g_assert_nonnull(json_object_object_get(f.run->workorder,
	                                        "Attachments"));
	size = json_build(&f, raw_len, pad + 1, &error);
	g_assert_cmpuint(size, ==, 0);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE);
	run_done(f.run);
	conf_free(f.conf);
}

/* ------------------------------------------------------------ regex */

/* Under the match limit at each start position, quadratic over the whole
 * text: without a budget for the whole search this takes minutes, with it
 * a few seconds. */
#define REGEX_SLOW_SECONDS 20
#define REGEX_SLOW_BLANKS 60000

/* The budget holds however the pattern opens or ends. */
static const char *const slow_patterns[] = {
	"\\s*$",
	"(*UTF)(*LIMIT_MATCH=900000)\\s*$",
	"(?x) \\s* $   # blanks at the end",
	"\\s*$\\Q",
};

static void
test_regex_time_budget(gconstpointer data)
{
	const char *const *pattern = data;
	g_autoptr(GError) error = NULL;
	pcre2_code *code = regex_compile(*pattern, FALSE, &error);
	GString *text = g_string_new("x");
	gint64 start;
	char *value = NULL;
	int rc;

	g_assert_no_error(error);
	while (text->len < REGEX_SLOW_BLANKS)
		g_string_append_c(text, ' ');
	g_string_append_c(text, 'x');
	start = g_get_monotonic_time();
	rc = regex_search(code, text->str, text->len, &value, &error);
	g_assert_cmpint(rc, ==, -1);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_REGEX_LIMIT);
	g_assert_null(value);
	g_assert_cmpint(g_get_monotonic_time() - start, <,
	                REGEX_SLOW_SECONDS * G_USEC_PER_SEC);
	g_string_free(text, TRUE);
	pcre2_code_free(code);
}

/* The budget must not change what a pattern means: leading (*VERB)s,
 * an open \Q, a (?x) comment at the end, alternatives at the top. */
typedef struct {
	const char *name;
	const char *pattern;
	const char *text;
	int want_rc;
	const char *want_value;
} budget_case_t;

static const budget_case_t budget_cases[] = {
	{ "start-items", "(*LIMIT_MATCH=1000)(*CRLF)(*UCP)a(\\d)", "xa7", 1,
	  "7" },
	{ "open-quote", "a\\Q(b", "xa(b", 1, "a(b" },
	{ "x-comment", "(?x) (\\d+) # digits", "ab 42", 1, "42" },
	{ "top-alternatives", "^x|(b)", "ab", 1, "b" },
	{ "recursion", "^(\\((?1)*\\))$", "(()())", 1, "(()())" },
	{ "own-callout", "a(?C1)(b)", "ab", 1, "b" },
	{ "anchor-after-verb", "(*UTF)^b", "ab", 0, "" },
};

static void
test_budget_meaning(gconstpointer data)
{
	const budget_case_t *c = data;
	g_autoptr(GError) error = NULL;
	g_autofree char *value = NULL;
	pcre2_code *code = regex_compile(c->pattern, FALSE, &error);
	int rc;

	g_assert_no_error(error);
	rc = regex_search(code, c->text, strlen(c->text), &value, &error);
	g_assert_no_error(error);
	if (rc != c->want_rc || g_strcmp0(value, c->want_value) != 0)
		g_test_fail_printf("%s: got %d \"%s\", want %d \"%s\"", c->name,
		                   rc, value, c->want_rc, c->want_value);
	pcre2_code_free(code);
}

/* ------------------------------------------------------------ config */

/* Every problem is one line, even when a value holds a "\n" escape; and
 * a file with other problems still has its token files checked, so that
 * --check-config lists everything at once. */
static void
test_config_problem_lines(void)
{
	g_autofree char *token = write_file("open-token", "t\n", 2, 0644);
	g_autofree char *text = g_strdup_printf(
		"[m2wo]\ntoken_file = %s\nsoftware_token_file = %s/nothere\n"
		"dedupe = a\\rb\\nc\n[config A]\nsender_type = Any\n"
		"description = x\nactive = maybe\n", token, tmp_dir);
	g_autofree char *path = write_file("m2wo.conf", text, strlen(text),
	                                   0600);
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(m2wo_config_t) config = config_load(path, TRUE, problems);
	const char *const want[] = {
		":2: token_file *open-token: readable by others (chmod 600)",
		":3: software_token_file */nothere: cannot read: *",
		":4: dedupe: a\\x0db\\nc is not one of api, off",
		":8: active: not a boolean (true or false): maybe",
	};
	g_autoptr(GString) got = g_string_new(NULL);

	g_assert_null(config);
	for (guint i = 0; i < problems->len; i++)
		g_string_append_printf(got, "\n  %s", (char *)problems->pdata[i]);
	g_assert_cmpuint(problems->len, ==, G_N_ELEMENTS(want));
	for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
		g_autofree char *pattern = g_strconcat(path, want[i], NULL);
		const char *line = problems->pdata[i];

		if (!g_pattern_match_simple(pattern, line))
			g_test_fail_printf("problem %u: got%s\n  want %s", i,
			                   got->str, pattern);
		for (const char *p = line; *p; p++)
			g_assert_false(g_ascii_iscntrl(*p));
	}
}

/* Without --check-config's compile_all, a run loads no token file. */
static void
test_config_tokens_later(void)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *text = g_strdup_printf(
		"[m2wo]\ntoken_file = %s/nothere\nsoftware_token_file = x\n"
		"[config A]\nsender_type = Any\n", tmp_dir);
	g_autofree char *path = write_file("m2wo.conf", text, strlen(text),
	                                   0600);
	g_autoptr(m2wo_config_t) config = config_load(path, FALSE, problems);

	g_assert_nonnull(config);
	g_assert_cmpuint(problems->len, ==, 0);
}

/* ------------------------------------------------------------ main */

#define ADD_TABLE(prefix, table, fn) \
	for (gsize i = 0; i < G_N_ELEMENTS(table); i++) { \
		g_autofree char *path = g_strconcat(prefix, table[i].name, NULL); \
		g_test_add_data_func(path, &table[i], fn); \
	}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	tmp_dir = g_dir_make_tmp("m2wo-test-limits-XXXXXX", NULL);
	ADD_TABLE("/limits/input/", size_cases, test_input_size);
	ADD_TABLE("/limits/header/", header_cases, test_header_size);
	ADD_TABLE("/limits/text/", cut_cases, test_text_size);
	ADD_TABLE("/limits/field/", cut_cases, test_field_len);
	ADD_TABLE("/limits/attachments/", attach_cases, test_attach_total);
	g_test_add_func("/limits/json/at-and-over", test_json_size);
	for (gsize i = 0; i < G_N_ELEMENTS(slow_patterns); i++) {
		g_autofree char *path = g_strdup_printf(
			"/limits/regex/time-budget/%zu", i);

		g_test_add_data_func(path, &slow_patterns[i],
		                     test_regex_time_budget);
	}
	ADD_TABLE("/limits/regex/budget-keeps-meaning/", budget_cases,
	          test_budget_meaning);
	g_test_add_func("/limits/config/problem-lines",
	                test_config_problem_lines);
	g_test_add_func("/limits/config/tokens-later", test_config_tokens_later);
	rc = g_test_run();
	{
		g_autoptr(GDir) dir = g_dir_open(tmp_dir, 0, NULL);
		const char *name;

		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree char *path = g_build_filename(tmp_dir, name, NULL);

			unlink(path);
		}
		rmdir(tmp_dir);
		g_free(tmp_dir);
	}
	g_mime_shutdown();
	return rc;
}
