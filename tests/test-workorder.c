/*
 * test-workorder.c: unit tests of workorder.c: the field table (15 required
 * fields, which fields forced.* may set), building from a relation and forced
 * templates (forced wins), the contact-person fallback, the invoice relation,
 * type conversion, cutting at a UTF-8 boundary, attachments, the missing
 * list, and the JSON text that is posted.
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
	g_test_add_func("/workorder/missing/trimmed", test_missing_trimmed);
	g_test_add_func("/workorder/json/array-no-slash-escape", test_to_json);
	rc = g_test_run();
	g_mime_shutdown();
	return rc;
}
