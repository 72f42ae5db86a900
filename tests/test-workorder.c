/*
 * test-workorder.c: unit tests of workorder.c: the field table (15 required
 * fields, which fields forced.* may set), building from a relation and forced
 * templates (forced wins), the contact-person fallback, the invoice relation,
 * type conversion, cutting at a UTF-8 boundary, attachments (large ones:
 * their Data in every way the work order is written), the missing list,
 * and the JSON text that is posted.
 */
#include <string.h>

#include "m2wo.h"

#define RELATION_ACME \
	"{\"debtor_number\": \"DEB1001\", \"name\": \"ACME B.V.\"," \
	" \"contact\": \"Piet de Vries\", \"email\": \"info@acme.example\"," \
	" \"phone_number\": \"070-1234567\", \"street\": \"Laan van Meerdervoort\"," \
	" \"house_number\": 5, \"postal_code\": \"2586 JK\"," \
	" \"city\": \"Den Haag\", \"remark\": \"internal\"}"
#define RELATION_HQ \
	"{\"debtor_number\": \"DEB2000\", \"name\": \"ACME Holding\"," \
	" \"street\": \"Kerkstraat\", \"house_number\": \"1\"," \
	" \"postal_code\": \"1017 GC\", \"city\": \"Amsterdam\"}"

/* A hand-made run: one configuration, one message, some parameters. */
typedef struct {
	m2wo_run_t run;
	m2wo_msg_t msg;
	m2wo_config_t config;
	m2wo_mailconf_t conf;
} fixture_t;

static void
fixture_init(fixture_t *f, const char *relation)
{
	memset(f, 0, sizeof *f);
	f->config.workorder_no = g_strdup(M2WO_DEF_WORKORDER_NO);
	f->conf.name = g_strdup("Storing ACME");
	f->conf.forced = g_ptr_array_new();
	f->msg.from_name = g_strdup("Jan Jansen");
	f->msg.from_address = g_strdup("jan@example.com");
	f->msg.subject = g_strdup("Storing hal 3");
	f->run.config = &f->config;
	f->run.conf = &f->conf;
	f->run.msg = &f->msg;
	f->run.explain = g_string_new(NULL);
	f->run.params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                      g_free);
	g_hash_table_insert(f->run.params, g_strdup("message_key"),
	                    g_strdup("7Q3K9ZD2XW4A"));
	g_hash_table_insert(f->run.params, g_strdup("subject"),
	                    g_strdup(f->msg.subject));
	if (relation != NULL)
		f->run.relation = json_tokener_parse(relation);
}

static void
fixture_param(fixture_t *f, const char *name, const char *value)
{
	g_hash_table_replace(f->run.params, g_strdup(name), g_strdup(value));
}

static void
fixture_force(fixture_t *f, const char *field, const char *tmpl)
{
	m2wo_forced_t *forced = g_new0(m2wo_forced_t, 1);

	forced->field = g_strdup(field);
	forced->template = g_strdup(tmpl);
	forced->line = 20 + (int)f->conf.forced->len;
	g_ptr_array_add(f->conf.forced, forced);
}

static void
fixture_clear(fixture_t *f)
{
	for (guint i = 0; i < f->conf.forced->len; i++) {
		m2wo_forced_t *forced = f->conf.forced->pdata[i];

		g_free(forced->field);
		g_free(forced->template);
		g_free(forced);
	}
	g_ptr_array_free(f->conf.forced, TRUE);
	g_free(f->conf.name);
	g_free(f->config.workorder_no);
	g_free(f->msg.from_name);
	g_free(f->msg.from_address);
	g_free(f->msg.subject);
	g_clear_pointer(&f->msg.raw, g_bytes_unref);
	g_clear_object(&f->msg.mime);
	g_string_free(f->run.explain, TRUE);
	g_hash_table_unref(f->run.params);
	g_clear_pointer(&f->run.relation, json_object_put);
	g_clear_pointer(&f->run.invoice_relation, json_object_put);
	g_clear_pointer(&f->run.workorder, json_object_put);
	g_clear_pointer(&f->run.work_objects, g_ptr_array_unref);
	g_free(f->run.adr_code);
	g_free(f->run.workorder_no);
}

/* Fails the test case, not the whole program, with got and want. */
static void
assert_contains(const char *got, const char *want)
{
	if (got == NULL || strstr(got, want) == NULL) {
		g_test_message("got \"%s\", want it to contain \"%s\"", got, want);
		g_test_fail();
	}
}

/* The field as text ("" for a number's digits), NULL when absent. */
static const char *
field(fixture_t *f, const char *name)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(f->run.workorder, name, &value))
		return NULL;
	return json_object_get_string(value);
}

static void
build_ok(fixture_t *f)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(workorder_build(&f->run, &error));
	g_assert_no_error(error);
	g_assert_nonnull(f->run.workorder);
}

/* ------------------------------------------------------------ the table */

static void
test_required_fields(void)
{
	static const char *const all[] = {
		"WorkorderNo", "CustomerName", "CustomerDebtorNr",
		"CustomerStreet", "CustomerZIP", "CustomerCity",
		"CustomerContactPerson", "CustomerNameInvoice",
		"CustomerDebtorNrInvoice", "CustomerStreetInvoice",
		"CustomerZIPInvoice", "CustomerCityInvoice",
		"CustomerContactPersonInvoice", "TypeOfWork", "PaymentMethod",
	};
	static const char *const not_customer[] = {
		"WorkorderNo", "TypeOfWork", "PaymentMethod",
	};
	json_object *empty = json_object_new_object();
	g_autoptr(GPtrArray) missing = g_ptr_array_new();

	g_assert_cmpuint(workorder_missing(empty, FALSE, missing), ==, 15);
	for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
		g_assert_cmpstr(missing->pdata[i], ==, all[i]);
	g_ptr_array_set_size(missing, 0);
	g_assert_cmpuint(workorder_missing(empty, TRUE, missing), ==, 3);
	for (gsize i = 0; i < G_N_ELEMENTS(not_customer); i++)
		g_assert_cmpstr(missing->pdata[i], ==, not_customer[i]);
	json_object_put(empty);
}

typedef struct {
	const char *name;
	gboolean want;
} known_case_t;

static const known_case_t known_cases[] = {
	{ "TypeOfWork", TRUE }, { "PaymentMethod", TRUE },
	{ "CustomerZIPInvoice", TRUE }, { "WorkDuration", TRUE },
	{ "WebPlanning", TRUE }, { "AdrCode", TRUE }, { "CpnCode", TRUE },
	{ "InternalWorkDescription", TRUE }, { "MinimumHours", TRUE },
	{ "Attachments", FALSE }, { "WorkObjects", FALSE }, { "Employees", FALSE },
	{ "Materials", FALSE }, { "Workperiods", FALSE }, { "Forms", FALSE },
	{ "WorkorderNo", FALSE }, { "typeofwork", FALSE }, { "Bogus", FALSE },
	{ "", FALSE },
};

static void
test_known(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(known_cases); i++) {
		if (workorder_field_known(known_cases[i].name) == known_cases[i].want)
			continue;
		g_test_message("%s: got %d, want %d", known_cases[i].name,
		               !known_cases[i].want, known_cases[i].want);
		g_test_fail();
	}
	g_assert_false(workorder_field_known(NULL));
}

/* ------------------------------------------------------------ building */

static void
test_build_relation_and_forced(void)
{
	fixture_t f;
	g_autoptr(GPtrArray) missing = g_ptr_array_new();
	g_autoptr(GPtrArray) keys = g_ptr_array_new();

	fixture_init(&f, RELATION_ACME);
	fixture_param(&f, "customer_phone", "06-12345678");
	fixture_force(&f, "TypeOfWork", "Storing");
	fixture_force(&f, "PaymentMethod", "op rekening");
	fixture_force(&f, "CustomerPhone", "{customer_phone}");
	fixture_force(&f, "ShortWorkDescription", "{subject}");
	build_ok(&f);

	json_object_object_foreach(f.run.workorder, key, value) {
		(void)value;
		g_ptr_array_add(keys, key);
	}
	/* WorkorderNo, the customer fields, then the forced ones. */
	g_assert_cmpuint(keys->len, >, 3);
	g_assert_cmpstr(keys->pdata[0], ==, "WorkorderNo");
	g_assert_cmpstr(keys->pdata[1], ==, "CustomerName");
	g_assert_cmpstr(keys->pdata[keys->len - 1], ==, "ShortWorkDescription");
	g_assert_cmpstr(field(&f, "WorkorderNo"), ==, "M2WO-7Q3K9ZD2XW4A");
	g_assert_cmpstr(f.run.workorder_no, ==, "M2WO-7Q3K9ZD2XW4A");
	g_assert_cmpstr(field(&f, "CustomerName"), ==, "ACME B.V.");
	g_assert_cmpstr(field(&f, "CustomerDebtorNr"), ==, "DEB1001");
	g_assert_cmpstr(field(&f, "CustomerStreet"), ==, "Laan van Meerdervoort");
	g_assert_cmpstr(field(&f, "CustomerStreetNo"), ==, "5");
	g_assert_cmpstr(field(&f, "CustomerZIP"), ==, "2586 JK");
	g_assert_cmpstr(field(&f, "CustomerCity"), ==, "Den Haag");
	g_assert_cmpstr(field(&f, "CustomerContactPerson"), ==, "Piet de Vries");
	g_assert_cmpstr(field(&f, "CustomerEmail"), ==, "info@acme.example");
	g_assert_cmpstr(field(&f, "CustomerPhone"), ==, "06-12345678");
	g_assert_cmpstr(field(&f, "CustomerNameInvoice"), ==, "ACME B.V.");
	g_assert_cmpstr(field(&f, "CustomerZIPInvoice"), ==, "2586 JK");
	g_assert_cmpstr(field(&f, "CustomerPhoneInvoice"), ==, "070-1234567");
	g_assert_cmpstr(field(&f, "TypeOfWork"), ==, "Storing");
	g_assert_cmpstr(field(&f, "ShortWorkDescription"), ==, "Storing hal 3");
	g_assert_null(field(&f, "CustomerRemark"));
	g_assert_null(field(&f, "Attachments"));
	g_assert_cmpuint(workorder_missing(f.run.workorder, FALSE, missing), ==,
	                 0);
	assert_contains(f.run.explain->str,
	                "CustomerZIP = \"2586 JK\" (relation DEB1001)\n");
	assert_contains(f.run.explain->str, "TypeOfWork = \"Storing\" (forced)\n");
	assert_contains(f.run.explain->str,
	                "CustomerPhone = \"06-12345678\" (forced)\n");
	assert_contains(f.run.explain->str,
	                "WorkorderNo = \"M2WO-7Q3K9ZD2XW4A\" (workorder_no)\n");
	fixture_clear(&f);
}

typedef struct {
	const char *name;
	const char *contact;     /* JSON text of the relation's contact, or NULL */
	const char *from_name;
	const char *want;
	const char *want_source;
} contact_case_t;

static const contact_case_t contact_cases[] = {
	{ "relation-contact", "\"Piet de Vries\"", "Jan Jansen", "Piet de Vries",
	  "(relation DEB9)" },
	{ "display-name", "\"  \"", "Jan Jansen", "Jan Jansen",
	  "(sender's display name)" },
	{ "display-name-contact-null", "null", "Jan Jansen", "Jan Jansen",
	  "(sender's display name)" },
	{ "relation-name", NULL, "", "ACME B.V.", "(name of relation DEB9)" },
};

static void
test_contact(gconstpointer data)
{
	const contact_case_t *c = data;
	fixture_t f;
	g_autofree char *relation = g_strdup_printf(
		"{\"debtor_number\": \"DEB9\", \"name\": \"ACME B.V.\"%s%s}",
		c->contact ? ", \"contact\": " : "", c->contact ? c->contact : "");
	g_autofree char *line = g_strdup_printf(
		"CustomerContactPerson = \"%s\" %s\n", c->want, c->want_source);

	fixture_init(&f, relation);
	g_free(f.msg.from_name);
	f.msg.from_name = g_strdup(c->from_name);
	build_ok(&f);
	g_assert_cmpstr(field(&f, "CustomerContactPerson"), ==, c->want);
	g_assert_cmpstr(field(&f, "CustomerContactPersonInvoice"), ==, c->want);
	assert_contains(f.run.explain->str, line);
	fixture_clear(&f);
}

static void
test_invoice_relation(void)
{
	fixture_t f;

	fixture_init(&f, RELATION_ACME);
	f.run.invoice_relation = json_tokener_parse(RELATION_HQ);
	build_ok(&f);
	g_assert_cmpstr(field(&f, "CustomerName"), ==, "ACME B.V.");
	g_assert_cmpstr(field(&f, "CustomerNameInvoice"), ==, "ACME Holding");
	g_assert_cmpstr(field(&f, "CustomerDebtorNrInvoice"), ==, "DEB2000");
	g_assert_cmpstr(field(&f, "CustomerZIPInvoice"), ==, "1017 GC");
	/* The holding has no contact: the sender's display name. */
	g_assert_cmpstr(field(&f, "CustomerContactPersonInvoice"), ==,
	                "Jan Jansen");
	g_assert_null(field(&f, "CustomerPhoneInvoice"));
	assert_contains(f.run.explain->str, "CustomerCityInvoice = \"Amsterdam\" "
	                "(invoice relation DEB2000)\n");
	fixture_clear(&f);
}

static void
test_no_relation(void)
{
	fixture_t f;
	g_autoptr(GPtrArray) missing = g_ptr_array_new();

	fixture_init(&f, NULL);
	fixture_force(&f, "TypeOfWork", "Storing");
	build_ok(&f);
	g_assert_null(field(&f, "CustomerName"));
	g_assert_null(field(&f, "CustomerContactPerson"));
	g_assert_cmpuint(workorder_missing(f.run.workorder, TRUE, missing), ==, 1);
	g_assert_cmpstr(missing->pdata[0], ==, "PaymentMethod");
	fixture_clear(&f);
}

static void
test_forced_empty_keeps_relation(void)
{
	fixture_t f;

	fixture_init(&f, RELATION_ACME);
	fixture_param(&f, "customer_phone", "");
	fixture_force(&f, "CustomerPhone", "{customer_phone}");
	build_ok(&f);
	g_assert_cmpstr(field(&f, "CustomerPhone"), ==, "070-1234567");
	assert_contains(f.run.explain->str, "CustomerPhone: forced value is empty");
	fixture_clear(&f);
}

static void
test_adr_code_and_objects(void)
{
	fixture_t f;
	json_object *objects = NULL;

	fixture_init(&f, RELATION_ACME);
	f.run.adr_code = g_strdup("ADR77");
	f.run.work_objects = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(f.run.work_objects, g_strdup("OBJ-1"));
	g_ptr_array_add(f.run.work_objects, g_strdup("OBJ-2"));
	build_ok(&f);
	g_assert_cmpstr(field(&f, "AdrCode"), ==, "ADR77");
	g_assert_true(json_object_object_get_ex(f.run.workorder, "WorkObjects",
	                                        &objects));
	g_assert_cmpuint(json_object_array_length(objects), ==, 2);
	g_assert_cmpstr(json_object_get_string(
		json_object_array_get_idx(objects, 1)), ==, "OBJ-2");
	fixture_clear(&f);
}

/* ------------------------------------------------------------ conversion */

typedef struct {
	const char *name;
	const char *field;
	const char *input;
	const char *want_json;   /* the value as serialised; NULL: absent */
	int want_error;          /* -1: none */
} convert_case_t;

static const convert_case_t convert_cases[] = {
	{ "integer", "WorkDuration", "90", "90", -1 },
	{ "integer-trimmed", "WorkDuration", " 90\n", "90", -1 },
	{ "integer-words", "WorkDuration", "1,5 uur", NULL, M2WO_ERROR_REJECT },
	{ "integer-negative", "WorkDuration", "-5", NULL, M2WO_ERROR_REJECT },
	{ "integer-empty-left-out", "WorkDuration", "  ", NULL, -1 },
	{ "number-comma", "CustomerLatitude", "52,0705", "52.0705", -1 },
	{ "number-point", "CustomerLongitude", "4.2839", "4.2839", -1 },
	{ "number-negative", "MinimumHours", "-1.5", "-1.5", -1 },
	{ "number-words", "CustomerLatitude", "noord", NULL, M2WO_ERROR_REJECT },
	{ "number-sign-only", "MinimumHours", "-", NULL, M2WO_ERROR_REJECT },
	{ "number-no-leading-digit", "MinimumHours", ".5", NULL, M2WO_ERROR_REJECT },
	{ "number-hex-refused", "MinimumHours", "0x10", NULL, M2WO_ERROR_REJECT },
	{ "bool-1", "WebPlanning", "1", "1", -1 },
	{ "bool-true", "PickupPlanning", "true", "1", -1 },
	{ "bool-0", "WebPlanning", "0", "0", -1 },
	{ "bool-other", "WebPlanning", "maybe", NULL, M2WO_ERROR_REJECT },
	{ "string-one-line", "ShortWorkDescription", "a\nb", "\"a b\"", -1 },
	{ "text-lines-kept", "WorkDescription", "  a\nb\n", "\"a\\nb\"", -1 },
	{ "string-invalid-utf8", "Comment", "a\xff" "b", "\"a\ufffd" "b\"", -1 },
};

static void
test_convert(gconstpointer data)
{
	const convert_case_t *c = data;
	fixture_t f;
	g_autoptr(GError) error = NULL;
	json_object *value = NULL;
	gboolean ok;

	fixture_init(&f, RELATION_ACME);
	fixture_param(&f, "v", c->input);
	fixture_force(&f, c->field, "{v}");
	ok = workorder_build(&f.run, &error);
	if (c->want_error >= 0) {
		g_assert_false(ok);
		g_assert_error(error, M2WO_ERROR, c->want_error);
		assert_contains(error->message, c->field);
		g_assert_null(f.run.workorder);
	} else {
		g_assert_no_error(error);
		g_assert_true(ok);
		if (json_object_object_get_ex(f.run.workorder, c->field, &value))
			g_assert_cmpstr(json_object_to_json_string_ext(value,
			                JSON_C_TO_STRING_PLAIN), ==, c->want_json);
		else
			g_assert_null(c->want_json);
	}
	fixture_clear(&f);
}

static void
test_forced_problems(void)
{
	static const struct {
		const char *field, *tmpl, *want;
	} cases[] = {
		{ "Attachments", "x", "forced.Attachments" },
		{ "WorkObjects", "x", "forced.WorkObjects" },
		{ "Bogus", "x", "forced.Bogus" },
		{ "TypeOfWork", "{nope}", "forced.TypeOfWork (line 20)" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		fixture_t f;
		g_autoptr(GError) error = NULL;

		fixture_init(&f, RELATION_ACME);
		fixture_force(&f, cases[i].field, cases[i].tmpl);
		g_assert_false(workorder_build(&f.run, &error));
		g_assert_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG);
		assert_contains(error->message, cases[i].want);
		fixture_clear(&f);
	}
}

static void
test_workorder_no_error(void)
{
	fixture_t f;
	g_autoptr(GError) error = NULL;

	fixture_init(&f, NULL);
	g_free(f.config.workorder_no);
	f.config.workorder_no = g_strdup("M2WO-{nope}");
	g_assert_false(workorder_build(&f.run, &error));
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG);
	assert_contains(error->message, "workorder_no");
	fixture_clear(&f);
}

static void
test_cut_utf8(void)
{
	fixture_t f;
	g_autoptr(GString) long_text = g_string_new("a");
	const char *got;

	for (int i = 0; i < 40000; i++)
		g_string_append(long_text, "\u00e9");
	fixture_init(&f, RELATION_ACME);
	fixture_param(&f, "long", long_text->str);
	fixture_force(&f, "WorkDescription", "{long}");
	build_ok(&f);
	got = field(&f, "WorkDescription");
	/* 65536 bytes would end inside an é: the cut falls before it. */
	g_assert_cmpuint(strlen(got), ==, M2WO_MAX_FIELD_LEN - 1);
	g_assert_true(g_utf8_validate(got, -1, NULL));
	assert_contains(f.run.explain->str, "(forced, cut at 65536 bytes)");
	fixture_clear(&f);
}

/* ------------------------------------------------------------ attachments */

static void
test_attach_original(void)
{
	fixture_t f;
	const char *raw = "From: a@b.nl\nSubject: x\n\nhi\n";
	g_autofree char *want = g_base64_encode((const guchar *)raw, strlen(raw));
	json_object *atts = NULL;
	json_object *att;

	fixture_init(&f, RELATION_ACME);
	f.conf.attach_original = TRUE;
	f.msg.raw = g_bytes_new_static(raw, strlen(raw));
	build_ok(&f);
	g_assert_true(json_object_object_get_ex(f.run.workorder, "Attachments",
	                                        &atts));
	g_assert_cmpuint(json_object_array_length(atts), ==, 1);
	att = json_object_array_get_idx(atts, 0);
	g_assert_cmpstr(json_object_get_string(json_object_object_get(att,
	                "FileName")), ==, "message.eml");
	g_assert_cmpstr(json_object_get_string(json_object_object_get(att,
	                "Data")), ==, want);
	fixture_clear(&f);
}

static void
test_attach_original_over_cap(void)
{
	fixture_t f;
	gsize len = M2WO_MAX_ATTACH_TOTAL + 1;

	fixture_init(&f, RELATION_ACME);
	f.conf.attach_original = TRUE;
	f.msg.raw = g_bytes_new_take(g_malloc0(len), len);
	build_ok(&f);
	g_assert_null(field(&f, "Attachments"));
	assert_contains(f.run.explain->str, "message.eml");
	assert_contains(f.run.explain->str, "skipped");
	fixture_clear(&f);
}

static void
test_attach_parts(void)
{
	static const char raw[] =
		"From: Jan <jan@example.com>\n"
		"Subject: foto\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed; boundary=XX\n"
		"\n"
		"--XX\n"
		"Content-Type: text/plain\n"
		"\n"
		"Zie bijlage.\n"
		"--XX\n"
		"Content-Type: text/plain; name=a.txt\n"
		"Content-Disposition: attachment; filename=a.txt\n"
		"Content-Transfer-Encoding: base64\n"
		"\n"
		"aGVsbG8=\n"
		"--XX--\n";
	fixture_t f;
	GMimeStream *stream;
	GMimeParser *parser;
	json_object *atts = NULL;
	json_object *att;

	fixture_init(&f, RELATION_ACME);
	f.conf.parse_attachments = TRUE;
	stream = g_mime_stream_mem_new_with_buffer(raw, sizeof raw - 1);
	parser = g_mime_parser_new_with_stream(stream);
	f.msg.mime = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	g_assert_nonnull(f.msg.mime);
	build_ok(&f);
	g_assert_true(json_object_object_get_ex(f.run.workorder, "Attachments",
	                                        &atts));
	g_assert_cmpuint(json_object_array_length(atts), ==, 1);
	att = json_object_array_get_idx(atts, 0);
	g_assert_cmpstr(json_object_get_string(json_object_object_get(att,
	                "FileName")), ==, "a.txt");
	g_assert_cmpstr(json_object_get_string(json_object_object_get(att,
	                "Data")), ==, "aGVsbG8=");
	assert_contains(f.run.explain->str, "Attachments: \"a.txt\" (5 bytes)");
	fixture_clear(&f);
}

/* ------------------------------------------------------------ large data */

/*
 * Data of 64 KiB or more is written only when the work order is
 * serialised: from the base64 text in the message when that is exactly
 * the text g_base64_encode gives (line breaks aside), else from the
 * decoded bytes. The cases below build real messages, parse them as m2wo
 * does and compare the Data that comes out with g_base64_encode of the
 * bytes, for layouts the text can be taken from and layouts that GMime
 * decodes to the same bytes but whose text m2wo must not copy.
 */
#define LARGE_SIZE   200000   /* bytes; 200000 % 3 == 2: one "=" */
#define LARGE_LAZY   65536    /* where Data starts to be written late */

typedef struct {
	const char *name;
	const char *eol;         /* line end of the whole message */
	gsize columns;           /* base64 characters a line */
	const char *inside;      /* put in the middle of every line, or NULL */
	const char *trailing;    /* put at the end of every line, or NULL */
	gboolean blank_after;    /* a blank line after the base64 */
	gboolean loose_bits;     /* the last character has unused bits set */
} layout_t;

static const layout_t layouts[] = {
	/* The canonical text, cut into lines: m2wo may send it as it is. */
	{ .name = "crlf-76", .eol = "\r\n", .columns = 76 },
	{ .name = "lf-76", .eol = "\n", .columns = 76 },
	{ .name = "lf-64", .eol = "\n", .columns = 64 },
	{ .name = "crlf-76-blank-line-after", .eol = "\r\n", .columns = 76,
	  .blank_after = TRUE },
	/* GMime skips what is not base64 and ignores the unused bits: the
	 * bytes are the same, the text is not theirs. A space at the end of
	 * a line is only seen after the first 76 characters matched. */
	{ .name = "crlf-76-space-inside", .eol = "\r\n", .columns = 76,
	  .inside = " " },
	{ .name = "lf-76-tab-and-dot-inside", .eol = "\n", .columns = 76,
	  .inside = "\t." },
	{ .name = "crlf-76-trailing-space", .eol = "\r\n", .columns = 76,
	  .trailing = " " },
	{ .name = "lf-76-loose-bits", .eol = "\n", .columns = 76,
	  .loose_bits = TRUE },
};

#define LAYOUT_CRLF (&layouts[0])
#define LAYOUT_LF (&layouts[1])
#define LAYOUT_SPACE (&layouts[4])

typedef struct {
	GBytes *bytes;
	const layout_t *layout;
} large_part_t;

/* len bytes that look random and are the same in every run, so that the
 * base64 holds every character, "/" included. */
static GBytes *
large_bytes(gsize len, guint32 seed)
{
	GRand *rand = g_rand_new_with_seed(seed);
	guchar *data = g_malloc(len);

	for (gsize i = 0; i < len; i++)
		data[i] = (guchar) g_rand_int_range(rand, 0, 256);
	g_rand_free(rand);
	return g_bytes_new_take(data, len);
}

static char *
large_b64(GBytes *bytes)
{
	return g_base64_encode(g_bytes_get_data(bytes, NULL),
	                       g_bytes_get_size(bytes));
}

/* Sets the lowest bit of the last character before the padding, which
 * decoders drop: the same bytes, another text. */
static void
large_loosen(char *b64)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *last = strchr(b64, '=');

	g_assert_nonnull(last);
	g_assert_true(last > b64);
	last--;
	*last = alphabet[(strchr(alphabet, *last) - alphabet) | 1];
}

/* Appends the base64 of part's bytes in lines as its layout says. */
static void
large_append_b64(GString *raw, const large_part_t *part)
{
	const layout_t *layout = part->layout;
	g_autofree char *b64 = large_b64(part->bytes);
	gsize len = strlen(b64);

	if (layout->loose_bits)
		large_loosen(b64);
	for (gsize at = 0; at < len; at += layout->columns) {
		gsize line = MIN(len - at, layout->columns), half = line / 2;

		g_string_append_len(raw, b64 + at, half);
		if (layout->inside != NULL)
			g_string_append(raw, layout->inside);
		g_string_append_len(raw, b64 + at + half, line - half);
		if (layout->trailing != NULL)
			g_string_append(raw, layout->trailing);
		g_string_append(raw, layout->eol);
	}
	if (layout->blank_after)
		g_string_append(raw, layout->eol);
}

/* A message (after mbox, a "From " line, when not NULL) of a text part
 * and one base64 attachment part per part, named big0.bin and so on. */
static GBytes *
large_message(const char *mbox, const large_part_t *parts, guint n)
{
	const char *eol = parts[0].layout->eol;
	GString *raw = g_string_new(mbox);

	g_string_append_printf(raw, "From: Jan <jan@example.com>%s"
	                       "Subject: tekening%sMIME-Version: 1.0%s"
	                       "Content-Type: multipart/mixed; boundary=XX%s%s"
	                       "--XX%sContent-Type: text/plain%s%s"
	                       "Zie bijlage.%s", eol, eol, eol, eol, eol, eol,
	                       eol, eol, eol);
	for (guint i = 0; i < n; i++) {
		g_string_append_printf(raw, "--XX%s"
		                       "Content-Type: application/octet-stream%s"
		                       "Content-Disposition: attachment; "
		                       "filename=big%u.bin%s"
		                       "Content-Transfer-Encoding: base64%s%s",
		                       eol, eol, i, eol, eol, eol);
		large_append_b64(raw, &parts[i]);
	}
	g_string_append_printf(raw, "--XX--%s", eol);
	return g_string_free_to_bytes(raw);
}

/* Parses raw as m2wo does (the parts then refer to raw's bytes) and builds
 * the work order with the message's attachments, and with the message
 * itself when original. */
static void
large_build(fixture_t *f, GBytes *raw, gboolean original)
{
	g_autoptr(GError) error = NULL;

	fixture_init(f, RELATION_ACME);
	f->conf.parse_attachments = TRUE;
	f->conf.attach_original = original;
	f->run.msg = msg_parse(raw, &error);
	g_assert_no_error(error);
	g_assert_nonnull(f->run.msg);
	build_ok(f);
}

static void
large_clear(fixture_t *f)
{
	msg_free(f->run.msg);
	f->run.msg = &f->msg;
	fixture_clear(f);
}

/* Data of attachment i in JSON text of a work order or an array of one;
 * new string, NULL when there is none. */
static char *
json_data(const char *json, guint i)
{
	json_object *top = json_tokener_parse(json);
	json_object *wo = top, *atts = NULL, *data = NULL;
	char *got = NULL;

	if (json_object_is_type(top, json_type_array))
		wo = json_object_array_get_idx(top, 0);
	if (json_object_object_get_ex(wo, "Attachments", &atts) &&
	    json_object_object_get_ex(json_object_array_get_idx(atts, i),
	                              "Data", &data))
		got = g_strdup(json_object_get_string(data));
	json_object_put(top);
	return got;
}

/* Fails the case when got is not want; says where they part, since both
 * are too long to print. what is freed. */
static void
assert_same(char *what, const char *got, const char *want)
{
	gsize at = 0;

	if (got == NULL || strcmp(got, want) != 0) {
		while (got != NULL && got[at] != '\0' && got[at] == want[at])
			at++;
		g_test_message("%s: got %zu bytes, want %zu; they differ at %zu",
		               what, got ? strlen(got) : 0, strlen(want), at);
		g_test_fail();
	}
	g_free(what);
}

/* Data of attachment i as posted and as --dry-run prints it. */
static void
assert_posted(fixture_t *f, guint i, const char *want)
{
	for (int pretty = 0; pretty <= 1; pretty++) {
		g_autofree char *json = workorder_to_json(f->run.workorder, pretty);
		g_autofree char *got = json_data(json, i);

		assert_same(g_strdup_printf("%s Data %u", pretty ? "pretty" : "plain",
		                            i), got, want);
	}
}

static const int json_c_flags[] = {
	JSON_C_TO_STRING_PLAIN,
	JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
	JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED,
	JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	JSON_C_TO_STRING_NOSLASHESCAPE,
};

/* Data of attachment i when json-c serialises the work order itself:
 * the whole text, with "/" as "\/" unless the flags say otherwise, as
 * json-c writes any string. */
static void
assert_json_c(fixture_t *f, guint i, const char *want)
{
	for (gsize k = 0; k < G_N_ELEMENTS(json_c_flags); k++) {
		int flags = json_c_flags[k];
		const char *json = json_object_to_json_string_ext(f->run.workorder,
		                                                  flags);
		g_autofree char *got = json_data(json, i);
		g_auto(GStrv) pieces = g_strsplit(want, "/", -1);
		g_autofree char *text = g_strjoinv(
			flags & JSON_C_TO_STRING_NOSLASHESCAPE ? "/" : "\\/", pieces);
		g_autofree char *quoted = g_strdup_printf("\"%s\"", text);

		assert_same(g_strdup_printf("json-c flags %#x, Data %u",
		                            (unsigned) flags, i), got, want);
		if (strstr(json, quoted) == NULL) {
			g_test_message("json-c flags %#x: Data %u not written as "
			               "json-c writes a string", (unsigned) flags, i);
			g_test_fail();
		}
	}
}

static void
test_large_layout(gconstpointer data)
{
	const layout_t *layout = data;
	large_part_t part = { large_bytes(LARGE_SIZE, 1), layout };
	g_autoptr(GBytes) raw = large_message(NULL, &part, 1);
	g_autofree char *want = large_b64(part.bytes);
	fixture_t f;

	large_build(&f, raw, FALSE);
	/* GMime decoded every byte: what differs below is m2wo's. */
	assert_contains(f.run.explain->str, "\"big0.bin\" (200000 bytes)");
	assert_posted(&f, 0, want);
	large_clear(&f);
	g_bytes_unref(part.bytes);
}

/* Two large attachments, one whose text is in the message and one whose
 * is not, with a small one between them: three kinds of Data in one
 * text. Lengths 66001 and 65537 end in "==" and "=". */
static GBytes *
large_mixed(large_part_t parts[3])
{
	parts[0] = (large_part_t) { large_bytes(66001, 2), LAYOUT_CRLF };
	parts[1] = (large_part_t) { large_bytes(100, 3), LAYOUT_CRLF };
	parts[2] = (large_part_t) { large_bytes(65537, 4), LAYOUT_SPACE };
	return large_message(NULL, parts, 3);
}

static void
large_mixed_free(large_part_t parts[3])
{
	for (int i = 0; i < 3; i++)
		g_bytes_unref(parts[i].bytes);
}

/* Reads the whole text in pieces of size bytes, each into a buffer of
 * exactly that size (so that AddressSanitizer sees a read that writes
 * past it); *length is what workorder_text_length said. */
static char *
read_pieces(json_object *wo, gboolean pretty, gsize size, gsize *length)
{
	g_autoptr(m2wo_wo_text_t) text = workorder_text_new(wo, pretty);
	g_autofree char *buf = g_malloc(size);
	GString *out = g_string_new(NULL);
	gsize n;

	*length = workorder_text_length(text);
	while ((n = workorder_text_read(text, buf, size)) > 0) {
		g_assert_cmpuint(n, <=, size);
		g_string_append_len(out, buf, n);
		/* A read that never ends fails here, not by a timeout. */
		g_assert_cmpuint(out->len, <=, *length);
	}
	/* libcurl may ask again after the end. */
	g_assert_cmpuint(workorder_text_read(text, buf, size), ==, 0);
	return g_string_free(out, FALSE);
}

static const gsize piece_sizes[] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16384, 1 << 20,
};

/* The POST body is read in pieces of whatever size libcurl asks for; a
 * base64 group (4 characters) cut by a piece must come out whole. */
static void
test_large_pieces(void)
{
	large_part_t parts[3];
	g_autoptr(GBytes) raw = large_mixed(parts);
	fixture_t f;

	large_build(&f, raw, FALSE);
	for (int pretty = 0; pretty <= 1; pretty++) {
		g_autofree char *want = workorder_to_json(f.run.workorder, pretty);

		for (gsize i = 0; i < G_N_ELEMENTS(piece_sizes); i++) {
			gsize length = 0;
			g_autofree char *got = read_pieces(f.run.workorder, pretty,
			                                   piece_sizes[i], &length);

			assert_same(g_strdup_printf("pieces of %zu bytes, pretty %d",
			                            piece_sizes[i], pretty), got, want);
			g_assert_cmpuint(length, ==, strlen(want));
		}
	}
	for (int i = 0; i < 3; i++) {
		g_autofree char *want = large_b64(parts[i].bytes);

		assert_posted(&f, (guint) i, want);
	}
	large_clear(&f);
	large_mixed_free(parts);
}

/* json-c serialises the work order itself when asked (a log, a debug
 * print): Data must not come out empty or half there. */
static void
test_large_json_c(void)
{
	large_part_t parts[3];
	g_autoptr(GBytes) raw = large_mixed(parts);
	fixture_t f;

	large_build(&f, raw, FALSE);
	for (int i = 0; i < 3; i++) {
		g_autofree char *want = large_b64(parts[i].bytes);

		assert_json_c(&f, (guint) i, want);
		/* and the posted text after it is still whole */
		assert_posted(&f, (guint) i, want);
	}
	large_clear(&f);
	large_mixed_free(parts);
}

/* One byte under 64 KiB is a plain string, 64 KiB is written late; both
 * give the same Data, whether the text is in the message or not. */
typedef struct {
	const char *name;
	gsize size;
	const layout_t *layout;
} boundary_case_t;

static const boundary_case_t boundary_cases[] = {
	{ "under-text-in-message", LARGE_LAZY - 1, LAYOUT_CRLF },
	{ "under-text-not-in-message", LARGE_LAZY - 1, LAYOUT_SPACE },
	{ "at-text-in-message", LARGE_LAZY, LAYOUT_CRLF },
	{ "at-text-not-in-message", LARGE_LAZY, LAYOUT_SPACE },
};

static void
test_large_boundary(gconstpointer data)
{
	const boundary_case_t *c = data;
	large_part_t part = { large_bytes(c->size, 5), c->layout };
	g_autoptr(GBytes) raw = large_message(NULL, &part, 1);
	g_autofree char *want = large_b64(part.bytes);
	fixture_t f;
	json_object *atts = NULL, *value;

	large_build(&f, raw, FALSE);
	g_assert_true(json_object_object_get_ex(f.run.workorder, "Attachments",
	                                        &atts));
	value = json_object_object_get(json_object_array_get_idx(atts, 0),
	                               "Data");
	/* m2wo.h: a Data written late reads as "" through json-c; this
	 * tells which side of the boundary the case is on. */
	assert_same(g_strdup("Data through json_object_get_string"),
	            json_object_get_string(value),
	            c->size < LARGE_LAZY ? want : "");
	assert_posted(&f, 0, want);
	assert_json_c(&f, 0, want);
	large_clear(&f);
	g_bytes_unref(part.bytes);
}

/* attach_original: the whole message, less local(8)'s "From " line,
 * after the large attachment that is also in it. */
static void
test_large_original(gconstpointer data)
{
	const char *mbox = data;
	large_part_t part = { large_bytes(LARGE_SIZE, 6), LAYOUT_LF };
	g_autoptr(GBytes) raw = large_message(mbox, &part, 1);
	gsize skip = mbox ? strlen(mbox) : 0;
	g_autofree char *want = g_base64_encode(
		(const guchar *) g_bytes_get_data(raw, NULL) + skip,
		g_bytes_get_size(raw) - skip);
	g_autofree char *want_part = large_b64(part.bytes);
	fixture_t f;

	g_assert_cmpuint(g_bytes_get_size(raw) - skip, >, LARGE_LAZY);
	large_build(&f, raw, TRUE);
	assert_contains(f.run.explain->str, "\"message.eml\"");
	assert_posted(&f, 0, want_part);
	assert_posted(&f, 1, want);
	assert_json_c(&f, 1, want);
	large_clear(&f);
	g_bytes_unref(part.bytes);
}

/* ------------------------------------------------------------ output */

static void
test_missing_trimmed(void)
{
	fixture_t f;
	g_autoptr(GPtrArray) missing = g_ptr_array_new();

	fixture_init(&f, RELATION_ACME);
	fixture_force(&f, "TypeOfWork", "Storing");
	build_ok(&f);
	json_object_object_add(f.run.workorder, "PaymentMethod",
	                       json_object_new_string(" \u00a0"));
	json_object_object_del(f.run.workorder, "CustomerCity");
	g_assert_cmpuint(workorder_missing(f.run.workorder, FALSE, missing), ==,
	                 2);
	g_assert_cmpstr(missing->pdata[0], ==, "CustomerCity");
	g_assert_cmpstr(missing->pdata[1], ==, "PaymentMethod");
	g_ptr_array_set_size(missing, 0);
	g_assert_cmpuint(workorder_missing(f.run.workorder, TRUE, missing), ==,
	                 1);
	g_assert_cmpstr(missing->pdata[0], ==, "PaymentMethod");
	fixture_clear(&f);
}

static void
test_to_json(void)
{
	fixture_t f;
	g_autofree char *plain = NULL;
	g_autofree char *pretty = NULL;
	json_object *parsed;

	fixture_init(&f, RELATION_ACME);
	fixture_force(&f, "Comment", "zie https://example.com/a/b");
	build_ok(&f);
	plain = workorder_to_json(f.run.workorder, FALSE);
	pretty = workorder_to_json(f.run.workorder, TRUE);
	g_assert_null(strstr(plain, "\\/"));
	g_assert_null(strstr(pretty, "\\/"));
	g_assert_null(strchr(plain, '\n'));
	g_assert_nonnull(strchr(pretty, '\n'));
	assert_contains(plain, "https://example.com/a/b");
	parsed = json_tokener_parse(plain);
	g_assert_true(json_object_is_type(parsed, json_type_array));
	g_assert_cmpuint(json_object_array_length(parsed), ==, 1);
	g_assert_cmpstr(json_object_get_string(json_object_object_get(
		json_object_array_get_idx(parsed, 0), "WorkorderNo")), ==,
		"M2WO-7Q3K9ZD2XW4A");
	json_object_put(parsed);
	fixture_clear(&f);
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	g_test_add_func("/workorder/fields/required", test_required_fields);
	g_test_add_func("/workorder/fields/known", test_known);
	g_test_add_func("/workorder/build/relation-and-forced",
	                test_build_relation_and_forced);
	for (gsize i = 0; i < G_N_ELEMENTS(contact_cases); i++) {
		g_autofree char *path = g_strconcat("/workorder/contact/",
		                                    contact_cases[i].name, NULL);

		g_test_add_data_func(path, &contact_cases[i], test_contact);
	}
	g_test_add_func("/workorder/build/invoice-relation", test_invoice_relation);
	g_test_add_func("/workorder/build/no-relation", test_no_relation);
	g_test_add_func("/workorder/build/forced-empty-keeps-relation",
	                test_forced_empty_keeps_relation);
	g_test_add_func("/workorder/build/adr-code-and-objects",
	                test_adr_code_and_objects);
	for (gsize i = 0; i < G_N_ELEMENTS(convert_cases); i++) {
		g_autofree char *path = g_strconcat("/workorder/convert/",
		                                    convert_cases[i].name, NULL);

		g_test_add_data_func(path, &convert_cases[i], test_convert);
	}
	g_test_add_func("/workorder/build/forced-problems", test_forced_problems);
	g_test_add_func("/workorder/build/workorder-no-error",
	                test_workorder_no_error);
	g_test_add_func("/workorder/build/cut-utf8", test_cut_utf8);
	g_test_add_func("/workorder/attach/original", test_attach_original);
	g_test_add_func("/workorder/attach/original-over-cap",
	                test_attach_original_over_cap);
	g_test_add_func("/workorder/attach/parts", test_attach_parts);
	for (gsize i = 0; i < G_N_ELEMENTS(layouts); i++) {
		g_autofree char *path = g_strconcat("/workorder/large/layout/",
		                                    layouts[i].name, NULL);

		g_test_add_data_func(path, &layouts[i], test_large_layout);
	}
	g_test_add_func("/workorder/large/pieces", test_large_pieces);
	g_test_add_func("/workorder/large/json-c", test_large_json_c);
	for (gsize i = 0; i < G_N_ELEMENTS(boundary_cases); i++) {
		g_autofree char *path = g_strconcat("/workorder/large/boundary/",
		                                    boundary_cases[i].name, NULL);

		g_test_add_data_func(path, &boundary_cases[i], test_large_boundary);
	}
	g_test_add_data_func("/workorder/large/original", NULL,
	                     test_large_original);
	g_test_add_data_func("/workorder/large/original-mbox",
	                     "From jan@example.com Thu Dec  3 18:44:01 2026\n",
	                     test_large_original);
	g_test_add_func("/workorder/missing/trimmed", test_missing_trimmed);
	g_test_add_func("/workorder/json/array-no-slash-escape", test_to_json);
	rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
